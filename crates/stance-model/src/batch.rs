//! Batching: sort sequences by length, fill batches up to a token budget, run them, and hand
//! results back in input order. Tokenization runs on its own thread, one chunk ahead of the
//! model, so the model never waits for the tokenizer after the first chunk.
//!
//! Every row of a batch is computed independently of the others (padding is masked), so the
//! numbers do not depend on the budget, on the order of inputs or on the thread count beyond
//! float rounding.

use crate::error::ModelError;
use crate::tokenize::{Encoded, Segment};
use crate::{Model, ModelOutput, TokenBatch};
use candle_core::{DType, Tensor};
use half::f16;

/// Padded tokens per batch (rows × longest row) when nothing else is asked for.
pub const DEFAULT_BATCH_TOKENS: usize = 8192;

/// How many batch budgets of tokens the tokenizer thread gathers before handing a chunk over:
/// enough batches per chunk for length sorting to pay off, small enough to start early.
const BATCHES_PER_CHUNK: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// Most padded tokens (rows × longest row) per forward pass; a longer single sequence
    /// still runs, alone.
    pub batch_tokens: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            batch_tokens: DEFAULT_BATCH_TOKENS,
        }
    }
}

/// Most of a batch's positions (rows × longest row) that may be padding. Padding is computed
/// like real tokens and then masked: with the token budget alone, a batch of short comments
/// spanned lengths from 60 to 10 and 47 % of the encoder's positions were padding (300 bench
/// comments). Sorted lengths make each batch's padding small at little cost in batch size.
pub const MAX_PADDING_SHARE: f64 = 0.05;

/// The attention's scores take rows × width² values per head, the batch's largest tensor for
/// long texts: a batch keeps rows × width² within `budget × ATTENTION_WIDTH`. At 512 tokens
/// and the default budget that is 4 rows instead of 16 (about 50 MB of f32 scores per layer
/// for 12 heads, not 200); batches up to 128 tokens wide are not affected.
pub const ATTENTION_WIDTH: usize = 128;

/// Groups sequence indices into batches, longest first, so that rows × longest row stays
/// within `budget`, rows × longest row² within `budget ×` [`ATTENTION_WIDTH`], and at most
/// [`MAX_PADDING_SHARE`] of the positions are padding (a batch holds at least one row). Equal
/// lengths keep their input order.
pub fn plan(lengths: &[usize], budget: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    // Sorted longest first, so the batch's longest row is its first.
    let mut width = 0;
    let mut real = 0;
    for i in order {
        if !current.is_empty() {
            let positions = (current.len() + 1) * width;
            let padding = positions - (real + lengths[i]);
            let attention = positions.saturating_mul(width);
            if positions > budget
                || attention > budget.saturating_mul(ATTENTION_WIDTH)
                || padding as f64 > MAX_PADDING_SHARE * positions as f64
            {
                batches.push(std::mem::take(&mut current));
            }
        }
        if current.is_empty() {
            width = lengths[i];
            real = 0;
        }
        current.push(i);
        real += lengths[i];
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Right-pads `segments` with `pad_id` into one batch (mask 0 and type 0 on padding).
pub fn pad(segments: &[&Segment], pad_id: u32) -> TokenBatch {
    let seq_len = segments.iter().map(|s| s.ids.len()).max().unwrap_or(0);
    let batch_size = segments.len();
    let mut batch = TokenBatch {
        input_ids: vec![pad_id; batch_size * seq_len],
        attention_mask: vec![0; batch_size * seq_len],
        token_type_ids: vec![0; batch_size * seq_len],
        batch_size,
        seq_len,
    };
    for (row, seg) in segments.iter().enumerate() {
        let start = row * seq_len;
        let n = seg.ids.len();
        batch.input_ids[start..start + n].copy_from_slice(&seg.ids);
        batch.attention_mask[start..start + n].fill(1);
        batch.token_type_ids[start..start + n].copy_from_slice(&seg.type_ids);
    }
    batch
}

/// Which intermediate states to keep from each forward pass (see [`Model::forward_keeping`]):
/// for each `l` in `layers` the output of the first `l` layers, at most `max_rows` of each
/// sequence's tokens (one bound for all layers: a reader cuts what it reads to its own budget).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepStates {
    /// Sorted and distinct (as [`KeepStates::new`] makes them).
    pub layers: Vec<usize>,
    pub max_rows: usize,
    /// Whether the pass also runs the layers above the kept ones and gives each text its
    /// vector; without, it stops at the deepest kept layer ([`Model::forward_states`]) and
    /// the vectors are empty.
    pub vectors: bool,
}

impl KeepStates {
    /// The states after each of `layers` (sorted, duplicates dropped), with the vectors.
    pub fn new(layers: impl IntoIterator<Item = usize>, max_rows: usize) -> Self {
        let mut layers: Vec<usize> = layers.into_iter().collect();
        layers.sort_unstable();
        layers.dedup();
        KeepStates { layers, max_rows, vectors: true }
    }

    /// The states after one layer, with the vectors.
    pub fn one(layer: usize, max_rows: usize) -> Self {
        KeepStates::new([layer], max_rows)
    }

    /// The same states from passes that stop at the deepest of them, without vectors.
    pub fn without_vectors(self) -> Self {
        KeepStates { vectors: false, ..self }
    }
}

/// The states kept of one sequence: `(layer, [rows, hidden] row-major)` per kept layer, in
/// the order of [`KeepStates::layers`]; empty when none were kept. f16, as the cross-encoders
/// that read them were trained on (`stance_tune::states::StateStore`): held for a whole chunk
/// of texts, in f32 they were the largest part of `stance classify`'s peak memory.
pub type KeptStates = Vec<(usize, Vec<f16>)>;

/// The block of `layer` in `states`, if it was kept.
pub fn states_at(states: &KeptStates, layer: usize) -> Option<&[f16]> {
    states.iter().find(|(l, _)| *l == layer).map(|(_, s)| s.as_slice())
}

/// How many of `n` rows [`head_and_tail_rows`] keeps with `max_rows` (a budget below 1 keeps
/// one row of a non-empty sequence).
pub fn head_and_tail_count(n: usize, max_rows: usize) -> usize {
    n.min(max_rows.max(1))
}

/// At most `max_rows` rows of `[n, width]` row-major states: the first `max_rows − 1` and the
/// last, so a cut sequence still ends with its end-of-text token, as every sequence the
/// encoder sees does.
pub fn head_and_tail_rows<T: Copy>(states: &[T], width: usize, max_rows: usize) -> Vec<T> {
    let n = states.len() / width;
    if n <= max_rows || max_rows < 2 {
        return states[..head_and_tail_count(n, max_rows) * width].to_vec();
    }
    let mut out = Vec::with_capacity(max_rows * width);
    out.extend_from_slice(&states[..(max_rows - 1) * width]);
    out.extend_from_slice(&states[(n - 1) * width..]);
    out
}

/// What the model gave for one segment: a vector (pooled embedding or logits) and the number
/// of tokens it covered, the segment's weight when windows are pooled; with [`KeepStates`],
/// its intermediate states too (one `[rows, hidden]` row-major block per kept layer).
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentResult {
    pub vector: Vec<f32>,
    pub n_tokens: usize,
    /// The width of the padded batch the segment ran in: `padded_len - n_tokens` positions
    /// were padding (computed and masked).
    pub padded_len: usize,
    pub states: KeptStates,
}

impl SegmentResult {
    /// The kept states after the first `layer` layers (`None` when that layer was not kept).
    pub fn states_at(&self, layer: usize) -> Option<&[f16]> {
        states_at(&self.states, layer)
    }
}

/// One input's results, in the order of its segments.
#[derive(Debug, Clone, PartialEq)]
pub struct InputResult {
    pub n_tokens: usize,
    pub truncated: bool,
    pub segments: Vec<SegmentResult>,
}

impl InputResult {
    /// The segments' vectors averaged with their token counts as weights (the vector itself
    /// when there is one segment).
    pub fn weighted_mean(&self) -> Vec<f32> {
        if let [only] = self.segments.as_slice() {
            return only.vector.clone();
        }
        let dim = self.segments.first().map_or(0, |s| s.vector.len());
        let total: f64 = self.segments.iter().map(|s| s.n_tokens as f64).sum();
        let mut sum = vec![0f64; dim];
        for seg in &self.segments {
            for (acc, v) in sum.iter_mut().zip(&seg.vector) {
                *acc += *v as f64 * seg.n_tokens as f64;
            }
        }
        sum.into_iter().map(|s| (s / total) as f32).collect()
    }
}

/// Runs the model over inputs.
///
/// - `encode` turns one input into segments (called on the tokenizer thread).
/// - `extract` turns one forward pass into one vector per row.
/// - `progress` is told how many inputs each batch completed.
pub struct Runner<'a> {
    pub model: &'a dyn Model,
    pub pad_id: u32,
    pub options: BatchOptions,
    pub keep: Option<KeepStates>,
}

impl Runner<'_> {
    pub fn run<I, E, X>(
        &self,
        inputs: &[I],
        encode: E,
        extract: X,
        progress: &dyn Fn(usize),
    ) -> Result<Vec<InputResult>, ModelError>
    where
        I: Sync,
        E: Fn(&I) -> Result<Encoded, ModelError> + Sync,
        X: Fn(&ModelOutput, &TokenBatch) -> Result<Vec<Vec<f32>>, ModelError>,
    {
        let budget = self.options.batch_tokens.max(1);
        let chunk_tokens = budget.saturating_mul(BATCHES_PER_CHUNK);
        let mut results = Vec::with_capacity(inputs.len());
        std::thread::scope(|scope| {
            let (sender, receiver) =
                crossbeam_channel::bounded::<Result<Vec<Encoded>, ModelError>>(1);
            let encode = &encode;
            scope.spawn(move || {
                let mut chunk = Vec::new();
                let mut tokens = 0;
                for input in inputs {
                    match encode(input) {
                        Ok(encoded) => {
                            tokens += encoded.segments.iter().map(|s| s.ids.len()).sum::<usize>();
                            chunk.push(encoded);
                        }
                        Err(e) => {
                            let _ = sender.send(Err(e));
                            return;
                        }
                    }
                    if tokens >= chunk_tokens {
                        tokens = 0;
                        // The receiver is gone only when the model side failed; stop quietly.
                        if sender.send(Ok(std::mem::take(&mut chunk))).is_err() {
                            return;
                        }
                    }
                }
                if !chunk.is_empty() {
                    let _ = sender.send(Ok(chunk));
                }
            });
            for chunk in receiver {
                results.extend(self.run_chunk(&chunk?, budget, &extract, progress)?);
            }
            Ok::<(), ModelError>(())
        })?;
        if results.len() != inputs.len() {
            return Err(ModelError::InvalidRequest(format!(
                "internal: {} results for {} inputs",
                results.len(),
                inputs.len()
            )));
        }
        Ok(results)
    }

    fn run_chunk<X>(
        &self,
        chunk: &[Encoded],
        budget: usize,
        extract: &X,
        progress: &dyn Fn(usize),
    ) -> Result<Vec<InputResult>, ModelError>
    where
        X: Fn(&ModelOutput, &TokenBatch) -> Result<Vec<Vec<f32>>, ModelError>,
    {
        // (input, segment) of every sequence in the chunk.
        let owners: Vec<(usize, usize)> = chunk
            .iter()
            .enumerate()
            .flat_map(|(i, e)| (0..e.segments.len()).map(move |s| (i, s)))
            .collect();
        let lengths: Vec<usize> = owners
            .iter()
            .map(|&(i, s)| chunk[i].segments[s].ids.len())
            .collect();
        let mut vectors: Vec<Vec<Option<RowOutput>>> =
            chunk.iter().map(|e| vec![None; e.segments.len()]).collect();
        let mut missing: Vec<usize> = chunk.iter().map(|e| e.segments.len()).collect();
        let done_without_model = missing.iter().filter(|m| **m == 0).count();
        if done_without_model > 0 {
            progress(done_without_model);
        }
        for rows in plan(&lengths, budget) {
            let segments: Vec<&Segment> = rows
                .iter()
                .map(|&r| &chunk[owners[r].0].segments[owners[r].1])
                .collect();
            let batch = pad(&segments, self.pad_id);
            let (output, kept) = match &self.keep {
                Some(keep) => {
                    let (output, states) = if keep.vectors {
                        let (output, states) = self.model.forward_keeping(&batch, &keep.layers)?;
                        (Some(output), states)
                    } else {
                        (None, self.model.forward_states(&batch, &keep.layers)?)
                    };
                    if states.len() != keep.layers.len() {
                        return Err(ModelError::InvalidBatch(format!(
                            "the model kept {} layers' states of the {} asked for",
                            states.len(),
                            keep.layers.len()
                        )));
                    }
                    let mut kept: Vec<KeptStates> = vec![Vec::new(); rows.len()];
                    for (&layer, states) in keep.layers.iter().zip(&states) {
                        let blocks = split_rows(states, &segments, keep.max_rows)?;
                        for (row, block) in kept.iter_mut().zip(blocks) {
                            row.push((layer, block));
                        }
                    }
                    (output, kept)
                }
                None => (Some(self.model.forward(&batch)?), vec![Vec::new(); rows.len()]),
            };
            let row_vectors = match output {
                Some(output) => extract(&output, &batch)?,
                None => vec![Vec::new(); rows.len()],
            };
            if row_vectors.len() != rows.len() {
                return Err(ModelError::InvalidBatch(format!(
                    "the model returned {} rows for a batch of {}",
                    row_vectors.len(),
                    rows.len()
                )));
            }
            let mut completed = 0;
            for ((&r, vector), states) in rows.iter().zip(row_vectors).zip(kept) {
                let (input, segment) = owners[r];
                vectors[input][segment] = Some((vector, states, batch.seq_len));
                missing[input] -= 1;
                if missing[input] == 0 {
                    completed += 1;
                }
            }
            progress(completed);
        }
        chunk
            .iter()
            .zip(vectors)
            .map(|(encoded, vectors)| {
                let segments = encoded
                    .segments
                    .iter()
                    .zip(vectors)
                    .map(|(seg, v)| {
                        let (vector, states, padded_len) = v.ok_or_else(|| {
                            ModelError::InvalidBatch("a segment was never run".into())
                        })?;
                        Ok(SegmentResult {
                            vector,
                            n_tokens: seg.ids.len(),
                            padded_len,
                            states,
                        })
                    })
                    .collect::<Result<Vec<_>, ModelError>>()?;
                Ok(InputResult {
                    n_tokens: encoded.n_tokens,
                    truncated: encoded.truncated,
                    segments,
                })
            })
            .collect()
    }
}

/// What one forward pass gave for one row: its vector, its states (with [`KeepStates`]) and
/// the padded width of its batch.
type RowOutput = (Vec<f32>, KeptStates, usize);

/// Each row's states `[seq, hidden]` of a padded batch, cut to its own tokens and then to at
/// most `max_rows` rows ([`head_and_tail_rows`]).
fn split_rows(states: &Tensor, segments: &[&Segment], max_rows: usize) -> Result<Vec<Vec<f16>>, ModelError> {
    let (_, seq, hidden) = states.dims3()?;
    let flat = states.to_dtype(DType::F16)?.flatten_all()?.to_vec1::<f16>()?;
    Ok(segments
        .iter()
        .enumerate()
        .map(|(row, seg)| {
            let start = row * seq * hidden;
            head_and_tail_rows(&flat[start..start + seg.ids.len() * hidden], hidden, max_rows)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_sorts_longest_first_and_respects_the_budget() {
        let lengths = [3, 10, 4, 10, 2, 7];
        let batches = plan(&lengths, 20);
        // 7 and 4 would fit the budget (2 × 7 = 14) but be 21 % padding.
        assert_eq!(batches, vec![vec![1, 3], vec![5], vec![2], vec![0], vec![4]]);
        for b in &batches {
            let width = b.iter().map(|&i| lengths[i]).max().unwrap();
            assert!(b.len() * width <= 20);
        }
        // Every index appears exactly once.
        let mut all: Vec<usize> = batches.concat();
        all.sort();
        assert_eq!(all, (0..lengths.len()).collect::<Vec<_>>());
    }

    #[test]
    fn plan_keeps_padding_under_its_share() {
        // Lengths 100 down to 11, ten of each: the budget alone would put many lengths together.
        let lengths: Vec<usize> = (0..900).map(|i| 100 - i / 10).collect();
        let batches = plan(&lengths, 4096);
        for b in &batches {
            let width = b.iter().map(|&i| lengths[i]).max().unwrap();
            let real: usize = b.iter().map(|&i| lengths[i]).sum();
            assert!(b.len() * width <= 4096);
            assert!((b.len() * width - real) as f64 <= MAX_PADDING_SHARE * (b.len() * width) as f64);
        }
        // Still batches, not rows one by one: at least the ten rows of each length together.
        assert!(batches.len() <= 90, "{} batches", batches.len());
    }

    #[test]
    fn plan_bounds_the_attention_of_long_rows() {
        let lengths = vec![512; 40];
        let batches = plan(&lengths, 8192);
        assert!(batches.iter().all(|b| b.len() * 512 * 512 <= 8192 * ATTENTION_WIDTH));
        assert_eq!(batches.len(), 10);
        // Short rows are held by the token budget alone.
        assert_eq!(plan(&vec![64; 256], 8192).len(), 2);
    }

    #[test]
    fn plan_runs_an_over_budget_sequence_alone() {
        assert_eq!(plan(&[50, 5, 5], 20), vec![vec![0], vec![1, 2]]);
        assert_eq!(plan(&[], 20), Vec::<Vec<usize>>::new());
    }

    #[test]
    fn pad_right_pads_ids_masks_and_types() {
        let a = Segment {
            ids: vec![5, 6, 7],
            type_ids: vec![0, 0, 1],
        };
        let b = Segment {
            ids: vec![8],
            type_ids: vec![0],
        };
        let batch = pad(&[&a, &b], 9);
        assert_eq!((batch.batch_size, batch.seq_len), (2, 3));
        assert_eq!(batch.input_ids, vec![5, 6, 7, 8, 9, 9]);
        assert_eq!(batch.attention_mask, vec![1, 1, 1, 1, 0, 0]);
        assert_eq!(batch.token_type_ids, vec![0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn weighted_mean_weighs_segments_by_tokens() {
        let r = InputResult {
            n_tokens: 10,
            truncated: false,
            segments: vec![
                SegmentResult {
                    vector: vec![1.0, 0.0],
                    n_tokens: 3,
                    padded_len: 3,
                    states: Vec::new(),
                },
                SegmentResult {
                    vector: vec![0.0, 2.0],
                    n_tokens: 1,
                    padded_len: 3,
                    states: Vec::new(),
                },
            ],
        };
        assert_eq!(r.weighted_mean(), vec![0.75, 0.5]);
    }

    #[test]
    fn head_and_tail_rows_keep_the_last_row() {
        let states: Vec<f32> = (0..10).map(|v| v as f32).collect(); // 5 rows of width 2
        assert_eq!(head_and_tail_rows(&states, 2, 3), vec![0., 1., 2., 3., 8., 9.]);
        assert_eq!(head_and_tail_rows(&states, 2, 5), states);
        assert_eq!(head_and_tail_rows(&states, 2, 9), states);
        assert_eq!(head_and_tail_rows(&states, 2, 1), vec![0., 1.]);
    }
}
