//! The frozen bottom of the encoder: each distinct text's states after its first
//! `bottom_layers` layers, computed once and kept (f16 in memory, and on disk when a cache
//! folder is given, in shards so a killed run keeps what it finished).

use crate::error::{Result, TuneError};
use candle_core::{DType, Device, Tensor};
use half::f16;
use sha2::{Digest, Sha256};
use stance_model::batch;
use stance_model::embed::EmbedMode;
use stance_model::runtime::TextModel;
use stance_model::tokenize::Truncation;
use std::collections::HashMap;
use std::path::Path;

/// Texts per on-disk shard.
const SHARD: usize = 512;

/// The bottom-layer states of `prefix + text` for each text (the model's `query: ` prefix,
/// head-truncated to the model's token limit, as `stance classify` encodes texts): one
/// `[n_tokens, hidden]` row-major f32 block per text, in input order. These are what
/// [`crate::model::CrossEncoder::predict`] reads. Texts are run in length-sorted batches of at most
/// `batch_tokens` padded positions; a text's states do not depend on its batch.
pub fn bottom_states(
    model: &TextModel,
    texts: &[&str],
    n_layers: usize,
    batch_tokens: usize,
    progress: &dyn Fn(usize),
) -> Result<Vec<Vec<f32>>> {
    let bert = model.network().as_bert().ok_or_else(|| {
        TuneError::Invalid("the cross-encoder needs a BERT-family encoder (e5, BERT, XLM-R)".into())
    })?;
    let prefix = model.prefix(EmbedMode::Query).to_string();
    let segments = texts
        .iter()
        .map(|t| {
            let mut enc = model.tokenizer.encode(t, &prefix, Truncation::Head)?;
            Ok(enc.segments.swap_remove(0))
        })
        .collect::<Result<Vec<_>>>()?;
    let lengths: Vec<usize> = segments.iter().map(|s| s.ids.len()).collect();
    let mut out = vec![Vec::new(); texts.len()];
    let mut done = 0;
    for group in batch::plan(&lengths, batch_tokens) {
        let refs: Vec<_> = group.iter().map(|&i| &segments[i]).collect();
        let tokens = batch::pad(&refs, model.pad_id());
        let states = bert.bottom_states(&tokens, n_layers)?;
        let (_, seq, hidden) = states.dims3()?;
        let flat = states.flatten_all()?.to_vec1::<f32>()?;
        for (row, &i) in group.iter().enumerate() {
            let start = row * seq * hidden;
            out[i] = flat[start..start + lengths[i] * hidden].to_vec();
        }
        done += group.len();
        progress(done);
    }
    Ok(out)
}

/// States of many texts, f16 in one buffer.
#[derive(Debug, Default)]
pub struct StateStore {
    pub hidden: usize,
    index: HashMap<String, (usize, usize)>,
    data: Vec<f16>,
}

impl StateStore {
    /// Computes (or reads from `cache_dir`) the states of every text, keeping at most `keep`
    /// rows of each (see [`batch::head_and_tail_rows`]). `key` must name everything that
    /// changes a state (encoder weights, tokenizer, layers): cached shards are found by it.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        model: &TextModel,
        texts: &[&str],
        n_layers: usize,
        keep: usize,
        batch_tokens: usize,
        cache_dir: Option<&Path>,
        key: &str,
        progress: &dyn Fn(usize, usize),
    ) -> Result<Self> {
        let mut unique: Vec<&str> = texts.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let hidden = model.config.hidden_size;
        let mut store = StateStore { hidden, ..Default::default() };
        let total = unique.len();
        if let Some(dir) = cache_dir {
            std::fs::create_dir_all(dir).map_err(|e| TuneError::io(dir, e))?;
        }
        let mut done = 0;
        for chunk in unique.chunks(SHARD) {
            let mut hasher = Sha256::new();
            hasher.update(format!("{key};layers={n_layers};keep={keep}\n").as_bytes());
            for t in chunk {
                hasher.update((t.len() as u64).to_le_bytes());
                hasher.update(t.as_bytes());
            }
            let digest: String = hasher.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect();
            let path = cache_dir.map(|d| d.join(format!("states-{digest}.safetensors")));
            let cached = match &path {
                Some(p) if p.is_file() => read_shard(p, chunk.len(), hidden).ok(),
                _ => None,
            };
            let blocks: Vec<Vec<f16>> = match cached {
                Some(b) => b,
                None => {
                    let states = bottom_states(model, chunk, n_layers, batch_tokens, &|n| progress(done + n, total))?;
                    let blocks: Vec<Vec<f16>> = states
                        .iter()
                        .map(|s| {
                            batch::head_and_tail_rows(s, hidden, keep)
                                .into_iter()
                                .map(f16::from_f32)
                                .collect()
                        })
                        .collect();
                    if let Some(p) = &path {
                        write_shard(p, &blocks, hidden)?;
                    }
                    blocks
                }
            };
            for (t, block) in chunk.iter().zip(blocks) {
                store.index.insert((*t).to_string(), (store.data.len(), block.len()));
                store.data.extend_from_slice(&block);
            }
            done += chunk.len();
            progress(done, total);
        }
        Ok(store)
    }

    /// A text's states as f32 `[n, hidden]` row-major.
    pub fn get(&self, text: &str) -> Option<Vec<f32>> {
        let &(start, len) = self.index.get(text)?;
        Some(self.data[start..start + len].iter().map(|v| v.to_f32()).collect())
    }

    /// Rows of a text's states.
    pub fn rows(&self, text: &str) -> Option<usize> {
        self.index.get(text).map(|&(_, len)| len / self.hidden)
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

fn write_shard(path: &Path, blocks: &[Vec<f16>], hidden: usize) -> Result<()> {
    let lengths: Vec<u32> = blocks.iter().map(|b| (b.len() / hidden) as u32).collect();
    let flat: Vec<f16> = blocks.concat();
    let rows = flat.len() / hidden;
    let mut tensors = HashMap::new();
    tensors.insert("states".to_string(), Tensor::from_vec(flat, (rows, hidden), &Device::Cpu)?);
    let n = lengths.len();
    tensors.insert("lengths".to_string(), Tensor::from_vec(lengths, n, &Device::Cpu)?);
    let tmp = path.with_extension("tmp");
    candle_core::safetensors::save(&tensors, &tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| TuneError::io(path, e))
}

fn read_shard(path: &Path, n: usize, hidden: usize) -> Result<Vec<Vec<f16>>> {
    let tensors = candle_core::safetensors::load(path, &Device::Cpu)?;
    let get = |name: &str| {
        tensors
            .get(name)
            .ok_or_else(|| TuneError::Invalid(format!("{}: no `{name}`", path.display())))
    };
    let lengths = get("lengths")?.to_vec1::<u32>()?;
    let states = get("states")?.to_dtype(DType::F16)?.flatten_all()?.to_vec1::<f16>()?;
    if lengths.len() != n || lengths.iter().map(|&l| l as usize).sum::<usize>() * hidden != states.len() {
        return Err(TuneError::Invalid(format!("{}: does not match its texts", path.display())));
    }
    let mut out = Vec::with_capacity(n);
    let mut at = 0;
    for l in lengths {
        let len = l as usize * hidden;
        out.push(states[at..at + len].to_vec());
        at += len;
    }
    Ok(out)
}
