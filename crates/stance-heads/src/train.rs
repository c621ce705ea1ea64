//! Training a head: AdamW on a small MLP, dropout, class-balanced cross-entropy, early stopping
//! on validation macro-F1, then temperature scaling on the validation logits.
//!
//! Determinism: every random draw (initial weights, shuffles, dropout masks) comes from one
//! [`SeededRng`], and the CPU maths is deterministic, so the same data and configuration give a
//! byte-identical head.

use crate::calibrate;
pub use crate::config::{Balance, TrainConfig};
use crate::data::{InputKind, Task};
use crate::decision::DecisionRule;
use crate::error::{HeadsError, Result};
use crate::head::{forward, DataSummary, Head, HeadMeta, MemberRecord, Mlp, TrainingRecord, HEAD_FORMAT};
use crate::metrics;
use crate::rng::SeededRng;
use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

/// Features with their gold label (index into the label set) and source (index of the data
/// argument they came from: validation scores are averaged over sources).
#[derive(Debug, Clone, Copy)]
pub struct Split<'a> {
    pub features: &'a [Vec<f32>],
    pub labels: &'a [usize],
    pub sources: &'a [usize],
}

impl Split<'_> {
    fn check(&self, what: &str, dim: usize, n_labels: usize) -> Result<()> {
        let n = self.features.len();
        if n == 0 {
            return Err(HeadsError::Invalid(format!("no {what} rows")));
        }
        if self.labels.len() != n || self.sources.len() != n {
            return Err(HeadsError::Invalid(format!(
                "{what}: features, labels and sources differ in length"
            )));
        }
        if self.features.iter().any(|f| f.len() != dim) {
            return Err(HeadsError::Invalid(format!(
                "{what}: feature vectors must all have {dim} values"
            )));
        }
        if self.labels.iter().any(|&l| l >= n_labels) {
            return Err(HeadsError::Invalid(format!(
                "{what}: label index out of range"
            )));
        }
        Ok(())
    }
}

/// What to train.
pub struct TrainRequest<'a> {
    pub task: Task,
    pub labels: Vec<String>,
    pub input: InputKind,
    pub embedding_dim: usize,
    pub encoder: String,
    pub train: Split<'a>,
    pub valid: Split<'a>,
    pub train_data: Vec<DataSummary>,
    pub valid_data: Vec<DataSummary>,
    pub config: TrainConfig,
    /// Fine-tune this head (same labels, input and layout) instead of starting from random
    /// weights; the string names it in the training record.
    pub warm_start: Option<(&'a Head, String)>,
}

/// Progress events, for a progress bar and per-epoch logs.
#[derive(Debug, Clone)]
pub enum Progress {
    /// A head of several members starts training member `index` (of `of`) from `seed`.
    Member {
        index: usize,
        of: usize,
        seed: u64,
    },
    Batch {
        epoch: usize,
        done: usize,
        total: usize,
    },
    Epoch(EpochReport),
}

#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    pub epoch: usize,
    /// Mean weighted cross-entropy over the epoch (NaN for epoch 0, the warm-start head).
    pub train_loss: f64,
    /// Mean over validation sources of their macro-F1.
    pub valid_score: f64,
    pub valid_accuracy: f64,
    pub improved: bool,
}

/// A trained head and its (first member's) per-epoch history.
pub struct Trained {
    pub head: Head,
    pub history: Vec<EpochReport>,
}

pub fn train(req: TrainRequest<'_>, on_progress: &mut dyn FnMut(Progress)) -> Result<Trained> {
    let cfg = &req.config;
    let k = req.labels.len();
    if k < 2 {
        return Err(HeadsError::Invalid(format!(
            "need at least 2 labels, got {:?}",
            req.labels
        )));
    }
    if cfg.batch_size == 0 || cfg.max_epochs == 0 || cfg.members == 0 {
        return Err(HeadsError::Invalid(
            "batch size, epochs and members must be positive".into(),
        ));
    }
    if !(0.0..1.0).contains(&cfg.dropout) || !(0.0..1.0).contains(&cfg.input_dropout) {
        return Err(HeadsError::Invalid("dropout must be in [0, 1)".into()));
    }
    let d = match req.input {
        InputKind::Single => req.embedding_dim,
        InputKind::Pair => 4 * req.embedding_dim,
    };
    req.train.check("training", d, k)?;
    req.valid.check("validation", d, k)?;

    let dev = Device::Cpu;
    let (mean, std) = match &req.warm_start {
        Some((head, name)) => {
            let m = &head.meta;
            if m.labels != req.labels
                || m.input != req.input
                || m.input_dim != d
                || m.hidden != cfg.hidden
                || m.members != cfg.members
            {
                return Err(HeadsError::Invalid(format!(
                    "cannot fine-tune {name}: it has labels {:?}, input {:?}, hidden {:?} and {} member(s); the data and flags give {:?}, {:?}, {:?} and {}",
                    m.labels, m.input, m.hidden, m.members, req.labels, req.input, cfg.hidden, cfg.members
                )));
            }
            (head.net.mean.clone(), head.net.std.clone())
        }
        None => {
            let (mean, std) = standardisation(req.train.features, d);
            (Tensor::from_vec(mean, (1, d), &dev)?, Tensor::from_vec(std, (1, d), &dev)?)
        }
    };

    let mut members = Vec::with_capacity(cfg.members);
    for m in 0..cfg.members {
        let seed = cfg.seed.wrapping_add(m as u64);
        if cfg.members > 1 {
            on_progress(Progress::Member { index: m, of: cfg.members, seed });
        }
        let mut rng = SeededRng::new(seed);
        let init = match &req.warm_start {
            Some((head, _)) => head.net.members[m]
                .iter()
                .map(|(w, b)| Ok((w.copy()?, b.copy()?)))
                .collect::<Result<Vec<_>>>()?,
            None => initial_layers(&mut rng, d, &cfg.hidden, k)?,
        };
        members.push(train_member(&req, d, (&mean, &std), init, &mut rng, on_progress)?);
    }

    let net = Mlp {
        mean,
        std,
        members: members.iter().map(|m| m.layers.clone()).collect(),
    };
    let logits = predict_logits(&net, req.valid.features, d)?;
    let by_source = per_source_macro_f1(&logits, &req.valid, &req.labels)?;
    let valid_score = metrics::mean_over_sources(&by_source);
    let temperature = calibrate::fit_temperature(&logits, req.valid.labels);
    let probs_raw: Vec<Vec<f32>> = logits.iter().map(|z| calibrate::softmax(z, 1.0)).collect();
    let probs: Vec<Vec<f32>> = logits
        .iter()
        .map(|z| calibrate::softmax(z, temperature))
        .collect();
    let raw_report = metrics::evaluate(req.valid.labels, &probs_raw, &req.labels, None)?;
    let report = metrics::evaluate(req.valid.labels, &probs, &req.labels, None)?;

    let member_records = if cfg.members > 1 {
        members
            .iter()
            .enumerate()
            .map(|(m, member)| MemberRecord {
                seed: cfg.seed.wrapping_add(m as u64),
                epochs_run: member.epochs_run(),
                best_epoch: member.best_epoch,
                valid_score: round_sig(member.valid_score),
            })
            .collect()
    } else {
        Vec::new()
    };
    let meta = HeadMeta {
        format: HEAD_FORMAT,
        task: req.task,
        labels: req.labels.clone(),
        input: req.input,
        embedding_dim: req.embedding_dim,
        input_dim: d,
        hidden: cfg.hidden.clone(),
        members: cfg.members,
        encoder: req.encoder.clone(),
        temperature: round_sig(temperature),
        decision: DecisionRule::default(),
        training: Some(TrainingRecord {
            train: req.train_data,
            valid: req.valid_data,
            config: cfg.clone(),
            warm_start: req.warm_start.as_ref().map(|(_, name)| name.clone()),
            epochs_run: members[0].epochs_run(),
            best_epoch: members[0].best_epoch,
            members: member_records,
            valid_score: round_sig(valid_score),
            valid_macro_f1_by_source: by_source.into_iter().map(round_sig).collect(),
            valid_accuracy: round_sig(report.accuracy),
            valid_ece_uncalibrated: round_sig(raw_report.ece),
            valid_ece: round_sig(report.ece),
        }),
    };
    Ok(Trained {
        head: Head { meta, net },
        history: members.swap_remove(0).history,
    })
}

/// Random initial layers `d → hidden… → k`: He init before GELU, LeCun init for the output layer.
fn initial_layers(rng: &mut SeededRng, d: usize, hidden: &[usize], k: usize) -> Result<Vec<(Tensor, Tensor)>> {
    let dev = Device::Cpu;
    let mut widths = vec![d];
    widths.extend(hidden);
    widths.push(k);
    let n_layers = widths.len() - 1;
    let mut layers = Vec::new();
    for (i, pair) in widths.windows(2).enumerate() {
        let (fan_in, fan_out) = (pair[0], pair[1]);
        let gain = if i + 1 < n_layers { 2.0 } else { 1.0 };
        let scale = (gain / fan_in as f64).sqrt();
        let w: Vec<f32> = (0..fan_in * fan_out)
            .map(|_| (rng.normal() * scale) as f32)
            .collect();
        layers.push((
            Tensor::from_vec(w, (fan_out, fan_in), &dev)?,
            Tensor::zeros(fan_out, candle_core::DType::F32, &dev)?,
        ));
    }
    Ok(layers)
}

/// One MLP after early stopping: the layers of its best epoch.
struct Member {
    layers: Vec<(Tensor, Tensor)>,
    /// 0 when the warm start was never beaten.
    best_epoch: usize,
    valid_score: f64,
    history: Vec<EpochReport>,
}

impl Member {
    fn epochs_run(&self) -> usize {
        self.history.last().map_or(0, |r| r.epoch)
    }
}

/// Trains one MLP from `init` over the standardisation `(mean, std)`, drawing shuffles and
/// dropout masks from `rng`, and keeps its best epoch on validation.
fn train_member(
    req: &TrainRequest<'_>,
    d: usize,
    (mean, std): (&Tensor, &Tensor),
    init_layers: Vec<(Tensor, Tensor)>,
    rng: &mut SeededRng,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Member> {
    let cfg = &req.config;
    let k = req.labels.len();
    let dev = Device::Cpu;
    let vars: Vec<(Var, Var)> = init_layers
        .iter()
        .map(|(w, b)| Ok((Var::from_tensor(w)?, Var::from_tensor(b)?)))
        .collect::<Result<_>>()?;
    let mut opt = AdamW::new(
        vars.iter()
            .flat_map(|(w, b)| [w.clone(), b.clone()])
            .collect(),
        ParamsAdamW {
            lr: cfg.learning_rate,
            weight_decay: cfg.weight_decay,
            ..ParamsAdamW::default()
        },
    )?;
    let row_weight = row_weights(req.train.labels, req.train.sources, k, cfg.balance);
    let widths_in: Vec<usize> = init_layers.iter().map(|(w, _)| w.dims()[1]).collect();
    let current = |vars: &[(Var, Var)]| -> Vec<(Tensor, Tensor)> {
        vars.iter()
            .map(|(w, b)| (w.as_tensor().clone(), b.as_tensor().clone()))
            .collect()
    };
    let snapshot = |vars: &[(Var, Var)]| -> Result<Vec<(Tensor, Tensor)>> {
        vars.iter()
            .map(|(w, b)| {
                Ok((
                    w.as_tensor().detach().copy()?,
                    b.as_tensor().detach().copy()?,
                ))
            })
            .collect()
    };
    let score_of = |layers: Vec<(Tensor, Tensor)>| -> Result<(f64, f64)> {
        let net = Mlp { mean: mean.clone(), std: std.clone(), members: vec![layers] };
        selection_score(&predict_logits(&net, req.valid.features, d)?, &req.valid, &req.labels)
    };

    let mut history = Vec::new();
    let mut best: Option<(f64, usize, Vec<(Tensor, Tensor)>)> = None;
    if req.warm_start.is_some() {
        let (score, accuracy) = score_of(init_layers.clone())?;
        let report = EpochReport {
            epoch: 0,
            train_loss: f64::NAN,
            valid_score: score,
            valid_accuracy: accuracy,
            improved: true,
        };
        on_progress(Progress::Epoch(report.clone()));
        history.push(report);
        best = Some((score, 0, snapshot(&vars)?));
    }

    let n = req.train.features.len();
    let mut order: Vec<usize> = (0..n).collect();
    let n_batches = n.div_ceil(cfg.batch_size);
    let mut since_best = 0;
    for epoch in 1..=cfg.max_epochs {
        rng.shuffle(&mut order);
        let mut loss_sum = 0.0;
        for (bi, batch) in order.chunks(cfg.batch_size).enumerate() {
            let b = batch.len();
            let mut flat = Vec::with_capacity(b * d);
            for &i in batch {
                flat.extend_from_slice(&req.train.features[i]);
            }
            let x = Tensor::from_vec(flat, (b, d), &dev)?;
            let y = Tensor::from_vec(
                batch
                    .iter()
                    .map(|&i| req.train.labels[i] as u32)
                    .collect::<Vec<_>>(),
                b,
                &dev,
            )?;
            let w: Vec<f32> = batch
                .iter()
                .map(|&i| row_weight[i])
                .collect();
            let w_sum: f32 = w.iter().sum();
            let w = Tensor::from_vec(w, b, &dev)?;
            let masks = widths_in
                .iter()
                .enumerate()
                .map(|(li, &width)| {
                    let p = if li == 0 {
                        cfg.input_dropout
                    } else {
                        cfg.dropout
                    };
                    dropout_mask(rng, b, width, p, &dev)
                })
                .collect::<Result<Vec<_>>>()?;
            let logits = forward(mean, std, &current(&vars), &x, Some(&masks))?;
            let log_p = candle_nn::ops::log_softmax(&logits, 1)?;
            let picked = log_p.gather(&y.unsqueeze(1)?, 1)?.squeeze(1)?;
            let loss =
                (picked.mul(&w)?.sum_all()? * (-1.0 / f64::from(w_sum.max(f32::MIN_POSITIVE))))?;
            opt.backward_step(&loss)?;
            loss_sum += f64::from(loss.to_scalar::<f32>()?) * b as f64;
            on_progress(Progress::Batch {
                epoch,
                done: bi + 1,
                total: n_batches,
            });
        }
        let (score, accuracy) = score_of(current(&vars))?;
        let improved = best.as_ref().is_none_or(|(s, _, _)| score > *s);
        if improved {
            best = Some((score, epoch, snapshot(&vars)?));
            since_best = 0;
        } else {
            since_best += 1;
        }
        let report = EpochReport {
            epoch,
            train_loss: loss_sum / n as f64,
            valid_score: score,
            valid_accuracy: accuracy,
            improved,
        };
        on_progress(Progress::Epoch(report.clone()));
        history.push(report);
        if since_best >= cfg.patience {
            break;
        }
    }

    let Some((valid_score, best_epoch, layers)) = best else {
        return Err(HeadsError::Invalid("training ran no epoch".into()));
    };
    Ok(Member { layers, best_epoch, valid_score, history })
}

/// Six significant digits: enough for a card, and stable across platforms' last-bit noise.
fn round_sig(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let digits = 6 - 1 - x.abs().log10().floor() as i32;
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Per-feature mean and standard deviation of the training rows (std floored so constant
/// features stay finite).
fn standardisation(features: &[Vec<f32>], d: usize) -> (Vec<f32>, Vec<f32>) {
    let n = features.len().max(1) as f64;
    let mut sum = vec![0f64; d];
    let mut sq = vec![0f64; d];
    for f in features {
        for (j, &v) in f.iter().enumerate() {
            sum[j] += f64::from(v);
            sq[j] += f64::from(v) * f64::from(v);
        }
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(s, m)| {
            let var = (s / n - m * m).max(0.0);
            if var.sqrt() < 1e-6 {
                1.0
            } else {
                var.sqrt() as f32
            }
        })
        .collect();
    (mean.iter().map(|&m| m as f32).collect(), std)
}

/// The loss weight of each training row under `balance`.
fn row_weights(labels: &[usize], sources: &[usize], k: usize, balance: Balance) -> Vec<f32> {
    if balance != Balance::PerSource {
        let class_weight = class_weights(labels, k, balance);
        return labels.iter().map(|&l| class_weight[l]).collect();
    }
    let n_sources = sources.iter().copied().max().map_or(0, |m| m + 1);
    let per_source: Vec<Vec<f32>> = (0..n_sources)
        .map(|s| {
            let of_source: Vec<usize> = labels
                .iter()
                .zip(sources)
                .filter(|(_, &src)| src == s)
                .map(|(&l, _)| l)
                .collect();
            class_weights(&of_source, k, Balance::On)
        })
        .collect();
    labels
        .iter()
        .zip(sources)
        .map(|(&l, &s)| per_source[s][l])
        .collect()
}

/// Inverse-frequency class weights normalised to mean 1 over the present classes, or all ones.
fn class_weights(labels: &[usize], k: usize, balance: Balance) -> Vec<f32> {
    let mut counts = vec![0usize; k];
    for &l in labels {
        counts[l] += 1;
    }
    let present: Vec<usize> = counts.iter().copied().filter(|&c| c > 0).collect();
    let (min, max) = (
        present.iter().copied().min().unwrap_or(1),
        present.iter().copied().max().unwrap_or(1),
    );
    let on = match balance {
        // Reached per file, from `row_weights`.
        Balance::On | Balance::PerSource => true,
        Balance::Off => false,
        Balance::Auto => max as f64 > 1.5 * min as f64,
    };
    if !on {
        return vec![1.0; k];
    }
    let n = labels.len() as f64;
    let kp = present.len() as f64;
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                0.0
            } else {
                (n / (kp * c as f64)) as f32
            }
        })
        .collect()
}

/// A `[rows, width]` inverted-dropout multiplier: 0 with probability `p`, else `1 / (1 − p)`.
fn dropout_mask(
    rng: &mut SeededRng,
    rows: usize,
    width: usize,
    p: f32,
    dev: &Device,
) -> Result<Tensor> {
    let keep = 1.0 / (1.0 - p);
    let values: Vec<f32> = (0..rows * width)
        .map(|_| {
            if p > 0.0 && (rng.next_f64() as f32) < p {
                0.0
            } else {
                keep
            }
        })
        .collect();
    Ok(Tensor::from_vec(values, (rows, width), dev)?)
}

/// `net`'s logits of `features`, as a head computes them at inference.
fn predict_logits(net: &Mlp, features: &[Vec<f32>], d: usize) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(features.len());
    for chunk in features.chunks(4096) {
        let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
        let x = Tensor::from_vec(flat, (chunk.len(), d), &Device::Cpu)?;
        out.extend(net.forward(&x)?.to_vec2::<f32>()?);
    }
    Ok(out)
}

/// The early-stopping criterion: mean over validation sources of their macro-F1 (so a large
/// source does not drown a small one), and the overall accuracy.
fn selection_score(
    logits: &[Vec<f32>],
    valid: &Split<'_>,
    labels: &[String],
) -> Result<(f64, f64)> {
    let by_source = per_source_macro_f1(logits, valid, labels)?;
    let correct = logits
        .iter()
        .zip(valid.labels)
        .filter(|(z, &g)| metrics::argmax(z) == g)
        .count();
    Ok((metrics::mean_over_sources(&by_source), correct as f64 / logits.len() as f64))
}

fn per_source_macro_f1(
    logits: &[Vec<f32>],
    valid: &Split<'_>,
    labels: &[String],
) -> Result<Vec<f64>> {
    let probs: Vec<Vec<f32>> = logits.iter().map(|z| calibrate::softmax(z, 1.0)).collect();
    let predicted: Vec<usize> = probs.iter().map(|p| metrics::argmax(p)).collect();
    metrics::macro_f1_by_source(valid.labels, &probs, &predicted, valid.sources, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_training_sets_get_enough_updates() {
        let small = TrainConfig::for_rows(120); // 2 batches an epoch
        assert_eq!((small.max_epochs, small.patience), (750, 75));
        let large = TrainConfig::for_rows(14_712);
        assert_eq!(large, TrainConfig::default());
        let edge = TrainConfig::for_rows(2_400);
        assert_eq!((edge.max_epochs, edge.patience), (40, 6));
    }

    #[test]
    fn per_source_balance_weighs_each_files_classes_equally() {
        // File 0: three of class 0, one of class 1; file 1: one of each.
        let w = row_weights(&[0, 0, 0, 1, 0, 1], &[0, 0, 0, 0, 1, 1], 2, Balance::PerSource);
        let total = |rows: &[usize]| rows.iter().map(|&i| w[i]).sum::<f32>();
        assert!((total(&[0, 1, 2]) - total(&[3])).abs() < 1e-6, "{w:?}");
        assert!((total(&[4]) - total(&[5])).abs() < 1e-6, "{w:?}");
        // Each file keeps its size: 4 rows against 2.
        assert!((total(&[0, 1, 2, 3]) - 2.0 * total(&[4, 5])).abs() < 1e-5, "{w:?}");
        // The other settings weigh by class over all rows.
        let global = row_weights(&[0, 0, 0, 1, 0, 1], &[0, 0, 0, 0, 1, 1], 2, Balance::On);
        assert_eq!(global[3], global[5]);
    }

    #[test]
    fn class_weights_balance_only_skewed_data() {
        assert_eq!(
            class_weights(&[0, 0, 1, 1], 2, Balance::Auto),
            vec![1.0, 1.0]
        );
        let w = class_weights(&[0, 0, 0, 1], 2, Balance::Auto);
        assert!(
            (w[0] - 4.0 / 6.0).abs() < 1e-6 && (w[1] - 2.0).abs() < 1e-6,
            "{w:?}"
        );
        assert_eq!(
            class_weights(&[0, 0, 0, 1], 2, Balance::Off),
            vec![1.0, 1.0]
        );
        assert_eq!(
            class_weights(&[0, 0, 0, 0], 3, Balance::On),
            vec![1.0, 0.0, 0.0]
        );
    }

    #[test]
    fn dropout_mask_keeps_expectation() {
        let mut rng = SeededRng::new(2);
        let m = dropout_mask(&mut rng, 100, 100, 0.25, &Device::Cpu).unwrap();
        let v: Vec<f32> = m.flatten_all().unwrap().to_vec1().unwrap();
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        assert!((mean - 1.0).abs() < 0.05, "{mean}");
        assert!(v.iter().all(|&x| x == 0.0 || (x - 4.0 / 3.0).abs() < 1e-6));
    }

    #[test]
    fn round_sig_keeps_six_digits() {
        assert_eq!(round_sig(0.123456789), 0.123457);
        assert_eq!(round_sig(1234.56789), 1234.57);
    }
}
