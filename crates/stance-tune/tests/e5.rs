//! On the real default encoder (../shared): the bottom states are the encoder's own hidden
//! states, and the trainable copies of its top layers reproduce its last layers.

use stance_model::runtime::open;
use stance_model::source::{ModelRef, ResolveOptions};
use stance_model::LoadOptions;
use stance_tune::layer::{layer_forward, param_list, LayerParams, MASKED};
use std::path::Path;

#[test]
fn top_layers_rebuilt_from_weights_match_the_encoder() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models/multilingual-e5-small-q4");
    let opened = open(
        &ModelRef::parse(dir.to_str().unwrap()),
        &ResolveOptions::new(true, false),
        &LoadOptions::default(),
    )
    .expect("the default encoder in ../shared");
    let model = &opened.model;
    let bert = model.network().as_bert().expect("e5 is a BERT");
    assert_eq!(bert.num_layers(), 12);
    let texts = ["Le nucléaire doit-il être abandonné ?", "Non, c'est notre meilleure énergie bas carbone pour le climat."];
    let prefix = model.prefix(stance_model::embed::EmbedMode::Query);
    let segs: Vec<_> = texts
        .iter()
        .map(|t| model.tokenizer.encode(t, prefix, stance_model::tokenize::Truncation::Head).unwrap().segments.remove(0))
        .collect();
    let refs: Vec<_> = segs.iter().collect();
    let batch = stance_model::batch::pad(&refs, model.pad_id());
    let all = bert.hidden_states(&batch).unwrap();
    let bottom = bert.bottom_states(&batch, 10).unwrap();
    let d = (&all[10] - &bottom).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert_eq!(d, 0.0);

    // The helper gives the unpadded rows of the same states.
    let per_text = stance_tune::bottom_states(model, &texts, 10, 8192, &|_| {}).unwrap();
    let hidden = 384;
    for (row, states) in per_text.iter().enumerate() {
        assert_eq!(states.len(), segs[row].ids.len() * hidden);
        let want = all[10].get(row).unwrap().narrow(0, 0, segs[row].ids.len()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let worst = want.iter().zip(states).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-5, "row {row}: {worst}");
    }

    // Layers 10 and 11 rebuilt from their weights, on the padded batch.
    let mask: Vec<f32> = batch.attention_mask.iter().map(|&m| if m == 1 { 0.0 } else { MASKED }).collect();
    let bias = candle_core::Tensor::from_vec(mask, (batch.batch_size, 1, 1, batch.seq_len), &candle_core::Device::Cpu).unwrap();
    let mut x = bottom;
    for i in 10..12 {
        let w = bert.layer_weights(i).unwrap();
        let list = param_list(&w).unwrap();
        x = layer_forward(&LayerParams::from_list(&list), &x, Some(&bias), w.heads, w.eps).unwrap();
    }
    for row in 0..2 {
        let n = segs[row].ids.len();
        let want = all[12].get(row).unwrap().narrow(0, 0, n).unwrap();
        let got = x.get(row).unwrap().narrow(0, 0, n).unwrap();
        let d = (want - got).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(d < 1e-4, "row {row}: max |Δ| {d}");
    }
}
