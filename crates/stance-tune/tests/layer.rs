//! The trainable layer against the inference layer, gradients reaching every parameter, and a
//! finite-difference check, all on tiny random models (no files needed beyond a temp dir).

use candle_core::{DType, Device, Tensor, Var};
use stance_heads::rng::SeededRng;
use stance_model::arch::layers::{EncoderDims, MatmulMode, PostLnLayer, PostLnNames};
use stance_model::config::Activation;
use stance_model::weights::WeightStore;
use stance_tune::layer::{layer_forward, LayerParams, PARAM_NAMES};
use stance_tune::model::{CrossEncoder, PairBatch, TunedMeta, FORMAT};
use stance_tune::train::{fit_temperature, two_task_loss, weighted_loss};
use std::collections::HashMap;

const NAMES: PostLnNames = PostLnNames {
    query: "attention.self.query",
    key: "attention.self.key",
    value: "attention.self.value",
    attention_output: "attention.output.dense",
    attention_norm: "attention.output.LayerNorm",
    ffn_in: "intermediate.dense",
    ffn_out: "output.dense",
    ffn_norm: "output.LayerNorm",
};

fn shape_of(name: &str, h: usize, inter: usize) -> Vec<usize> {
    match name {
        "intermediate.dense.weight" => vec![inter, h],
        "intermediate.dense.bias" => vec![inter],
        "output.dense.weight" => vec![h, inter],
        n if n.ends_with(".weight") && !n.contains("LayerNorm") => vec![h, h],
        _ => vec![h],
    }
}

fn random(shape: &[usize], rng: &mut SeededRng, scale: f64, offset: f64, dtype: DType) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| offset + scale * rng.normal()).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap()
}

/// 16 random layer tensors in PARAM_NAMES order (LayerNorm weights around 1).
fn random_layer(h: usize, inter: usize, rng: &mut SeededRng, dtype: DType) -> Vec<Tensor> {
    PARAM_NAMES
        .iter()
        .map(|n| {
            let offset = if n.contains("LayerNorm.weight") { 1.0 } else { 0.0 };
            random(&shape_of(n, h, inter), rng, 0.3, offset, dtype)
        })
        .collect()
}

fn tiny_meta(h: usize, heads: usize, top: usize) -> TunedMeta {
    TunedMeta {
        format: FORMAT.into(),
        task: "stance".into(),
        labels: vec!["favor".into(), "against".into(), "none".into()],
        encoder: "test".into(),
        encoder_layers: top + 1,
        bottom_layers: 1,
        top_layers: top,
        hidden: h,
        heads,
        eps: 1e-12,
        prefix: "query: ".into(),
        context_tokens: 4,
        comment_tokens: 6,
        temperature: 1.0,
        reads_parent: false,
        shared_layers: None,
        int8_layers: false,
        decision: Default::default(),
        training: serde_json::Value::Null,
    }
}

fn tiny_model(seed: u64) -> CrossEncoder {
    let mut rng = SeededRng::new(seed);
    let layers: Vec<Vec<Tensor>> = (0..2).map(|_| random_layer(8, 16, &mut rng, DType::F32)).collect();
    let model = CrossEncoder::new(tiny_meta(8, 2, 2), &layers, &mut || rng.normal()).unwrap();
    // A non-zero segment embedding, so its effect is visible in the checks below.
    let seg = random(&[2, 8], &mut SeededRng::new(seed + 1), 0.5, 0.0, DType::F32);
    model.vars()["segment.weight"].set(&seg).unwrap();
    model
}

fn states(n: usize, h: usize, rng: &mut SeededRng) -> Vec<f32> {
    (0..n * h).map(|_| rng.normal() as f32).collect()
}

/// Four (context, comment) state blocks of hidden size 8 and various lengths.
fn pair_states(seed: u64) -> Vec<(Vec<f32>, Vec<f32>)> {
    let mut rng = SeededRng::new(seed);
    [(3, 9), (5, 2), (1, 1), (7, 8)]
        .iter()
        .map(|&(a, b)| (states(a, 8, &mut rng), states(b, 8, &mut rng)))
        .collect()
}

fn tiny_batch(seed: u64) -> (PairBatch, Vec<usize>, Vec<f32>) {
    let mut rng = SeededRng::new(seed);
    let lens = [(3, 5), (2, 2), (4, 1)];
    let blocks: Vec<(Vec<f32>, Vec<f32>)> = lens.iter().map(|&(a, b)| (states(a, 8, &mut rng), states(b, 8, &mut rng))).collect();
    let refs: Vec<(&[f32], &[f32])> = blocks.iter().map(|(a, b)| (&a[..], &b[..])).collect();
    (PairBatch::new(&refs, 8, &Device::Cpu).unwrap(), vec![0, 2, 1], vec![1.0, 0.5, 2.0])
}

#[test]
fn trainable_layer_equals_the_inference_layer() {
    let (h, inter, heads) = (32, 64, 4);
    let mut rng = SeededRng::new(7);
    let tensors = random_layer(h, inter, &mut rng, DType::F32);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layer.safetensors");
    let map: HashMap<String, Tensor> =
        PARAM_NAMES.iter().zip(&tensors).map(|(n, t)| (format!("l.{n}"), t.clone())).collect();
    candle_core::safetensors::save(&map, &path).unwrap();
    let store = WeightStore::open(&path, &Device::Cpu).unwrap();
    let dims = EncoderDims { hidden: h, intermediate: inter, heads, eps: 1e-12, activation: Activation::GeluErf };
    let inference = PostLnLayer::load(&store, "l", &NAMES, dims, MatmulMode::F32).unwrap();

    // The weights the inference layer exposes are the ones it was loaded with.
    let exposed = inference.f32_weights().unwrap();
    assert_eq!(exposed.heads, heads);
    for (n, t) in PARAM_NAMES.iter().zip(&tensors) {
        let (_, e) = exposed.tensors.iter().find(|(k, _)| k == n).unwrap();
        let d = (e - t).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(d, 0.0, "{n}");
    }

    // Two rows, the second padded after 3 of 5 positions.
    let x = random(&[2, 5, h], &mut rng, 1.0, 0.0, DType::F32);
    let mask: Vec<f32> = [0., 0., 0., 0., 0., 0., 0., 0., 1., 1.].iter().map(|&m| if m == 1. { f32::MIN } else { 0. }).collect();
    let inference_bias = Tensor::from_vec(mask, (2, 1, 1, 5), &Device::Cpu).unwrap();
    let train_mask: Vec<f32> = [0., 0., 0., 0., 0., 0., 0., 0., 1., 1.].iter().map(|&m| if m == 1. { stance_tune::layer::MASKED } else { 0. }).collect();
    let train_bias = Tensor::from_vec(train_mask, (2, 1, 1, 5), &Device::Cpu).unwrap();
    let want = inference.forward(&x, Some(&inference_bias)).unwrap();
    let got = layer_forward(&LayerParams::from_list(&tensors), &x, Some(&train_bias), heads, 1e-12).unwrap();
    let diff = (want - got).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(diff < 1e-5, "max |Δ| {diff}");
}

#[test]
fn every_parameter_gets_a_nonzero_gradient() {
    let model = tiny_model(3);
    let (batch, gold, weights) = tiny_batch(4);
    let loss = weighted_loss(&model.logits(&batch).unwrap(), &gold, &weights).unwrap();
    let grads = loss.backward().unwrap();
    assert_eq!(model.vars().len(), 2 * 16 + 3);
    for (name, var) in model.vars() {
        let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
        let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(norm.is_finite() && norm > 0.0, "{name}: gradient norm² {norm}");
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn a_sibling_reads_through_the_same_layers_with_a_classifier_of_its_own() {
    let model = tiny_model(3);
    let mut rng = SeededRng::new(9);
    let sibling = model.sibling("toxicity", vec!["toxic".into(), "non_toxic".into()], &mut || rng.normal()).unwrap();
    assert_eq!(sibling.meta.task, "toxicity");
    assert_eq!(sibling.vars()["classifier.weight"].dims(), [2, 16]);
    let (batch, _, _) = tiny_batch(5);
    let before = model.pooled(&batch).unwrap();
    assert_eq!(max_abs_diff(&before, &sibling.pooled(&batch).unwrap()), 0.0);
    // One set of layer variables: a step on the first model's moves the sibling's.
    let name = "layer.1.intermediate.dense.weight";
    model.vars()[name].set(&(model.vars()[name].as_tensor() * 1.5).unwrap()).unwrap();
    let after = sibling.pooled(&batch).unwrap();
    assert!(max_abs_diff(&before, &after) > 1e-3);
    assert_eq!(max_abs_diff(&after, &model.pooled(&batch).unwrap()), 0.0);
}

#[test]
fn the_two_task_loss_weighs_each_row_under_its_own_classifier() {
    let model = tiny_model(3);
    let mut rng = SeededRng::new(9);
    let sibling = model.sibling("toxicity", vec!["toxic".into(), "non_toxic".into()], &mut || rng.normal()).unwrap();
    let (batch, _, weights) = tiny_batch(5);
    let pooled = model.pooled(&batch).unwrap();
    let scalar = |t: &Tensor| t.to_scalar::<f32>().unwrap();
    // All rows of the first task: that task's loss.
    let gold = [0, 2, 1];
    let one = two_task_loss(&pooled, [&model, &sibling], &[0, 0, 0], &gold, &weights).unwrap();
    let want = weighted_loss(&model.classify(&pooled).unwrap(), &gold, &weights).unwrap();
    assert!((scalar(&one) - scalar(&want)).abs() < 1e-6);
    // Mixed: each part weighted by its share of the rows' weights (1 + 2 of 3.5, then 0.5).
    let gold = [0, 1, 1];
    let mixed = two_task_loss(&pooled, [&model, &sibling], &[0, 1, 0], &gold, &weights).unwrap();
    let rows = |r: &[u32]| pooled.index_select(&Tensor::new(r, &Device::Cpu).unwrap(), 0).unwrap();
    let first = weighted_loss(&model.classify(&rows(&[0, 2])).unwrap(), &[0, 1], &[1.0, 2.0]).unwrap();
    let second = weighted_loss(&sibling.classify(&rows(&[1])).unwrap(), &[1], &[0.5]).unwrap();
    let want = (scalar(&first) * 3.0 + scalar(&second) * 0.5) / 3.5;
    assert!((scalar(&mixed) - want).abs() < 1e-6, "{} against {want}", scalar(&mixed));
    // Its gradient reaches both classifiers and the shared layers.
    let grads = mixed.backward().unwrap();
    let shared = &model.vars()["layer.0.attention.self.query.weight"];
    for var in [&model.vars()["classifier.weight"], &sibling.vars()["classifier.weight"], shared] {
        let norm = scalar(&grads.get(var.as_tensor()).unwrap().sqr().unwrap().sum_all().unwrap());
        assert!(norm.is_finite() && norm > 0.0);
    }
}

/// Analytic gradients of a two-layer stack (in f64) against central differences, for a few
/// coordinates of every parameter and of the input.
#[test]
fn gradients_match_finite_differences() {
    let (h, inter, heads) = (8, 12, 2);
    let mut rng = SeededRng::new(11);
    let layers: Vec<Vec<Var>> = (0..2)
        .map(|_| random_layer(h, inter, &mut rng, DType::F64).iter().map(|t| Var::from_tensor(t).unwrap()).collect())
        .collect();
    let x = Var::from_tensor(&random(&[2, 4, h], &mut rng, 1.0, 0.0, DType::F64)).unwrap();
    let bias = Tensor::from_vec(vec![0f64, 0., 0., 0., 0., 0., -1e9, -1e9], (2, 1, 1, 4), &Device::Cpu).unwrap();
    let probe = random(&[2, 4, h], &mut rng, 1.0, 0.0, DType::F64);
    let f = |layers: &[Vec<Tensor>], x: &Tensor| -> f64 {
        let mut y = x.clone();
        for l in layers {
            y = layer_forward(&LayerParams::from_list(l), &y, Some(&bias), heads, 1e-12).unwrap();
        }
        // Only the unpadded positions count, as in pooling.
        let keep = Tensor::from_vec(vec![1f64, 1., 1., 1., 1., 1., 0., 0.], (2, 4, 1), &Device::Cpu).unwrap();
        (y * &probe).unwrap().broadcast_mul(&keep).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap()
    };
    let tensors = |ls: &[Vec<Var>]| -> Vec<Vec<Tensor>> { ls.iter().map(|l| l.iter().map(|v| v.as_tensor().clone()).collect()).collect() };
    // Analytic.
    let mut y = x.as_tensor().clone();
    for l in &tensors(&layers) {
        y = layer_forward(&LayerParams::from_list(l), &y, Some(&bias), heads, 1e-12).unwrap();
    }
    let keep = Tensor::from_vec(vec![1f64, 1., 1., 1., 1., 1., 0., 0.], (2, 4, 1), &Device::Cpu).unwrap();
    let loss = (y * &probe).unwrap().broadcast_mul(&keep).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();

    let eps = 1e-5;
    let mut checked = 0;
    let mut targets: Vec<(String, Var)> = vec![("x".into(), x.clone())];
    for (i, l) in layers.iter().enumerate() {
        for (n, v) in PARAM_NAMES.iter().zip(l) {
            targets.push((format!("layer.{i}.{n}"), v.clone()));
        }
    }
    for (name, var) in &targets {
        let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
        let g = g.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let base = var.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let shape = var.as_tensor().dims().to_vec();
        for k in 0..3 {
            let idx = (k * 7919 + 13) % base.len();
            let eval = |delta: f64| {
                let mut v = base.clone();
                v[idx] += delta;
                let t = Tensor::from_vec(v, shape.clone(), &Device::Cpu).unwrap();
                let original = var.as_tensor().copy().unwrap();
                var.set(&t).unwrap();
                let out = f(&tensors(&layers), x.as_tensor());
                var.set(&original).unwrap();
                out
            };
            let numeric = (eval(eps) - eval(-eps)) / (2.0 * eps);
            let err = (numeric - g[idx]).abs();
            assert!(
                err <= 1e-5 + 1e-4 * numeric.abs().max(g[idx].abs()),
                "{name}[{idx}]: analytic {} vs numeric {numeric}",
                g[idx]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * (1 + 2 * 16));
}

#[test]
fn predictions_do_not_depend_on_the_batch_and_survive_save_and_load() {
    let mut model = tiny_model(5);
    let (batch, _, _) = tiny_batch(6);
    let pooled = model.pooled(&batch).unwrap();
    model.set_standardisation(&pooled).unwrap();
    // Standardised: the pooled vectors of the measured batch have mean 0 per dimension.
    let again = model.pooled(&batch).unwrap().mean(0).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(again < 1e-4, "{again}");
    assert_eq!(model.buffers().len(), 2);
    let blocks = pair_states(9);
    let refs: Vec<(&[f32], &[f32])> = blocks.iter().map(|(a, b)| (&a[..], &b[..])).collect();
    let together = model.predict(&refs, 1 << 20).unwrap();
    let alone: Vec<Vec<f32>> = refs.iter().map(|r| model.predict(&[*r], 1).unwrap().remove(0)).collect();
    for (a, b) in together.iter().zip(&alone) {
        assert_eq!(a.len(), 3);
        assert!((a.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }
    // Segments matter: swapping context and comment changes the output.
    let swapped = model.predict(&[(refs[0].1, refs[0].0)], 1 << 20).unwrap();
    assert!(swapped[0].iter().zip(&together[0]).any(|(x, y)| (x - y).abs() > 1e-4));

    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path(), DType::F32).unwrap();
    let loaded = CrossEncoder::load(dir.path()).unwrap();
    assert_eq!(loaded.meta, model.meta);
    assert_eq!(loaded.buffers().len(), 2);
    assert_eq!(loaded.predict(&refs, 1 << 20).unwrap(), together);
    model.save(dir.path(), DType::F16).unwrap();
    let half = CrossEncoder::load(dir.path()).unwrap().predict(&refs, 1 << 20).unwrap();
    for (a, b) in half.iter().zip(&together) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 2e-2);
        }
    }
}

#[test]
fn a_single_text_model_reads_the_comment_alone_and_keeps_its_thresholds() {
    let mut meta = tiny_meta(8, 2, 2);
    meta.task = "toxicity".into();
    meta.labels = vec!["toxic".into(), "non_toxic".into()];
    let mut rng = SeededRng::new(21);
    let layers: Vec<Vec<Tensor>> = (0..2).map(|_| random_layer(8, 16, &mut rng, DType::F32)).collect();
    let mut model = CrossEncoder::new(meta, &layers, &mut || rng.normal()).unwrap();
    let comments: Vec<Vec<f32>> = [3, 6, 1].iter().map(|&n| states(n, 8, &mut rng)).collect();
    let rows: Vec<(&[f32], &[f32])> = comments.iter().map(|c| (&[][..], &c[..])).collect();
    let batch = PairBatch::new(&rows, 8, &Device::Cpu).unwrap();
    // No context: its half of the pooled vector is zero, the comment's is not.
    let pooled = model.pooled(&batch).unwrap().to_vec2::<f32>().unwrap();
    assert!(pooled.iter().all(|p| p[..8].iter().all(|&v| v == 0.0) && p[8..].iter().any(|&v| v != 0.0)));
    let probs = model.predict(&rows, 1 << 20).unwrap();
    let alone: Vec<Vec<f32>> = rows.iter().map(|r| model.predict(&[*r], 1).unwrap().remove(0)).collect();
    for (a, b) in probs.iter().zip(&alone) {
        assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5), "{a:?} vs {b:?}");
    }
    // A comment with no states at all is refused.
    assert!(PairBatch::new(&[(&comments[0][..], &[][..])], 8, &Device::Cpu).is_err());

    // A threshold above every row's p(toxic) turns every decision to `non_toxic`, and it is
    // saved with the model.
    let top = probs.iter().map(|p| p[0]).fold(0f32, f32::max) as f64;
    model.meta.decision.thresholds = Some(stance_heads::Thresholds {
        flag: "toxic".into(),
        default: 0.0,
        by_lang: [("fr".to_string(), top + 1e-3)].into_iter().collect(),
    });
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path(), DType::F32).unwrap();
    let loaded = CrossEncoder::load(dir.path()).unwrap();
    assert_eq!(loaded.meta, model.meta);
    assert!(probs.iter().all(|p| loaded.decide(p, Some("fr")) == 1 && loaded.decide(p, Some("de")) == 0));
}

#[test]
fn training_steps_lower_the_loss() {
    use stance_tune::optim::{AdamW, AdamWConfig};
    let model = tiny_model(21);
    let (batch, gold, weights) = tiny_batch(22);
    let mut opt = AdamW::new(model.vars(), AdamWConfig::default(), |n| usize::from(!n.starts_with("layer."))).unwrap();
    let loss_of = |m: &CrossEncoder| weighted_loss(&m.logits(&batch).unwrap(), &gold, &weights).unwrap();
    let first = loss_of(&model).to_scalar::<f32>().unwrap();
    for _ in 0..30 {
        let grads = loss_of(&model).backward().unwrap();
        opt.step(&grads, &[1e-3, 1e-2]).unwrap();
    }
    let last = loss_of(&model).to_scalar::<f32>().unwrap();
    assert!(last < first * 0.5, "loss {first} → {last}");

    // The optimiser's state round-trips.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("optim.safetensors");
    opt.save(&p).unwrap();
    let mut other = AdamW::new(model.vars(), AdamWConfig::default(), |_| 0).unwrap();
    other.load(&p).unwrap();
    assert_eq!(other.step, 30);
}

#[test]
fn temperature_fits_overconfident_logits() {
    // Confident logits that are right only 60 % of the time want T > 1.
    let logits: Vec<Vec<f32>> = (0..100).map(|_| vec![4.0, 0.0]).collect();
    let gold: Vec<usize> = (0..100).map(|i| usize::from(i % 5 >= 3)).collect();
    let t = fit_temperature(&logits, &gold);
    assert!(t > 2.0, "{t}");
}

#[test]
fn inference_on_the_encoder_kernels_matches_the_differentiable_ops() {
    let mut model = tiny_model(11);
    let blocks = pair_states(12);
    let refs: Vec<(&[f32], &[f32])> = blocks.iter().map(|(a, b)| (&a[..], &b[..])).collect();
    let largest_change = |a: &[Vec<f32>], b: &[Vec<f32>]| {
        a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max)
    };
    let (batch, _, _) = tiny_batch(4);
    let training_logits = model.logits(&batch).unwrap().to_vec2::<f32>().unwrap();
    let exact = model.predict(&refs, 1 << 20).unwrap();

    model.run_inference_in(stance_model::Compute::F32).unwrap();
    let f32_kernels = model.predict(&refs, 1 << 20).unwrap();
    assert!(largest_change(&exact, &f32_kernels) < 1e-5, "{exact:?} vs {f32_kernels:?}");

    // Set up once: a second set-up, training and saving are refused (the layers' f32 weights
    // are gone), while the training path of a model not set up is untouched.
    let refused = model.run_inference_in(stance_model::Compute::Bf16).unwrap_err().to_string();
    assert!(refused.contains("already set up"), "{refused}");
    assert!(model.logits(&batch).unwrap_err().to_string().contains("cannot be trained"));
    let dir = tempfile::tempdir().unwrap();
    assert!(model.save(dir.path(), candle_core::DType::F32).unwrap_err().to_string().contains("cannot be saved"));
    let mut model = tiny_model(11);
    assert_eq!(model.logits(&batch).unwrap().to_vec2::<f32>().unwrap(), training_logits);

    model.run_inference_in(stance_model::Compute::Bf16).unwrap();
    let bf16 = model.predict(&refs, 1 << 20).unwrap();
    let change = largest_change(&exact, &bf16);
    assert!(change > 0.0 && change < 2e-2, "bf16 changed the probabilities by {change}");
    // Batching still does not move a row.
    let alone: Vec<Vec<f32>> = refs.iter().map(|r| model.predict(&[*r], 1).unwrap().remove(0)).collect();
    assert!(largest_change(&bf16, &alone) < 1e-6);
}
