//! Scoring one chunk of comments: every distinct text of the chunk (comments, their article
//! targets, their parents) goes through the encoder once, then every task model reads that
//! pass: heads its pooled vectors, cross-encoders its bottom-layer states of both texts, a blend
//! its members' outputs, a route one model's outputs per row.

use crate::error::Result;
use crate::heads::{HeadSet, SourcedCrossEncoder, TaskModel};
use crate::route;
use crate::zero_shot::ZeroShotStance;
use polars::prelude::{Column, DataFrame};
use stance_core::{LabelKind, Task, TaskInput};
use stance_heads::calibrate::softmax;
use stance_heads::features::pair_features;
use stance_heads::model_encoder::ModelEncoder;
use stance_heads::{InputKind, SourcedHead};
use stance_model::batch::KeepStates;
use stance_model::embed::Embedding;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Padded positions per batch of a cross-encoder's top layers. Chosen when they ran in candle's
/// general ops, which hold several `[rows, heads, width, width]` attention tensors at once: with
/// the stance cross-encoder on 1,000 bench comments (all tasks), peak RSS was 1,209 MB at the
/// encoder's 8,192 and 918 MB at 2,048 (657 MB without it), at the same speed. On the
/// encoder's kernels (`CrossEncoder::run_inference_in`) 512, 2,048 and 8,192 ran within the
/// host's noise of each other (AMD EPYC, int8, all tasks, two alternations: the models' times
/// summed 10.1–10.8 s, peak RSS 447–494 MB).
const CROSS_ENCODER_BATCH_TOKENS: usize = 2048;

/// Pooled vectors of the cross-encoders that share their layers (`shared_layers`, the models of
/// one multi-task run), by that id and by `(context, comment)` text: computed by the first of
/// them to score a pair, read by the others.
type SharedPooled = HashMap<String, HashMap<(Option<usize>, usize), Vec<f32>>>;

/// What scoring reads of one comment.
#[derive(Debug, Clone, Copy)]
pub struct ScoreInput<'a> {
    pub text: &'a str,
    pub lang: Option<&'a str>,
    /// The text stance is measured toward (the article's target); `None`: no stance.
    pub target: Option<&'a str>,
    /// The parent comment's text; `None` for a top-level comment or an unknown parent.
    pub parent: Option<&'a str>,
}

/// Interns texts so that each distinct one is embedded once.
#[derive(Default)]
struct Texts<'a> {
    slot: HashMap<&'a str, usize>,
    unique: Vec<&'a str>,
}

impl<'a> Texts<'a> {
    fn add(&mut self, text: &'a str) -> usize {
        *self.slot.entry(text).or_insert_with(|| {
            self.unique.push(text);
            self.unique.len() - 1
        })
    }
}

/// The prediction columns of `comments` (same rows, same order): `n_tokens`, `truncated`,
/// then for each head its label column and probability columns, and with `logits` the raw
/// scores as `logit_<task>_<label>`. A pair head leaves a row null when the comment has no
/// target (stance) or no parent in the data (reply).
pub fn score_chunk(
    encoder: &ModelEncoder<'_>,
    heads: &HeadSet,
    comments: &[ScoreInput<'_>],
    zero_shot: Option<&ZeroShotStance<'_>>,
    logits: bool,
    times: &mut StageTimes,
) -> Result<DataFrame> {
    let started = Instant::now();
    let mut texts = Texts::default();
    let own: Vec<usize> = comments.iter().map(|c| texts.add(c.text)).collect();
    let mut contexts: Vec<Vec<Option<usize>>> = Vec::with_capacity(heads.models.len());
    for m in &heads.models {
        contexts.push(match m.reads() {
            TaskInput::TargetAndComment => comments.iter().map(|c| c.target.map(|t| texts.add(t))).collect(),
            TaskInput::ParentAndComment => comments.iter().map(|c| c.parent.map(|t| texts.add(t))).collect(),
            TaskInput::Comment => vec![None; comments.len()],
        });
    }
    let keep = heads.keep_states();
    let mut needs: Vec<Needs> = vec![Needs::default(); texts.unique.len()];
    if keep.is_some() {
        for (m, context) in heads.models.iter().zip(&contexts) {
            mark_needs(m, &own, context, &mut needs);
        }
    }
    let embeddings = embed(encoder, &texts.unique, keep.as_ref(), &needs)?;
    times.encode += started.elapsed();
    times.texts_encoded += texts.unique.len();
    times.tokens_encoded += embeddings.iter().map(|e| e.n_tokens).sum::<usize>();
    times.padded_tokens += embeddings.iter().map(|e| e.padded_tokens).sum::<usize>();
    for (e, needs) in embeddings.iter().zip(&needs) {
        let layers = needs.layers_run(encoder.layers()) as f64;
        times.layer_tokens += layers * e.n_tokens as f64;
        times.layer_attention_cost += layers * (e.n_tokens * e.n_tokens) as f64;
    }
    let started = Instant::now();

    let mut columns = vec![
        Column::new("n_tokens".into(), own.iter().map(|&i| embeddings[i].n_tokens as u32).collect::<Vec<u32>>()),
        Column::new("truncated".into(), own.iter().map(|&i| embeddings[i].truncated).collect::<Vec<bool>>()),
    ];
    let mut shared = SharedPooled::new();
    for (m, context) in heads.models.iter().zip(&contexts) {
        let model_started = Instant::now();
        let Scores { rows, raw, probs } = scores(m, &own, context, &embeddings, &mut shared)?;
        let mut scored: Vec<Option<usize>> = vec![None; comments.len()];
        for (k, &row) in rows.iter().enumerate() {
            scored[row] = Some(k);
        }
        let decisions: Vec<usize> =
            rows.iter().zip(&probs).map(|(&row, p)| m.decide(p, comments[row].lang, context[row].is_some())).collect();
        columns.extend(task_columns(m.task(), m.labels(), &scored, &probs, &decisions));
        if logits {
            for (j, label) in m.labels().iter().enumerate() {
                let values: Vec<Option<f32>> = scored.iter().map(|k| k.map(|k| raw[k][j])).collect();
                columns.push(Column::new(format!("logit_{}_{label}", m.task()).into(), values));
            }
        }
        times.add_heads(m.task(), model_started.elapsed());
    }
    if let Some(zero_shot) = zero_shot {
        let model_started = Instant::now();
        let mut rows = Vec::with_capacity(comments.len());
        let mut scored: Vec<Option<usize>> = vec![None; comments.len()];
        for (row, c) in comments.iter().enumerate() {
            if let Some(target) = c.target {
                scored[row] = Some(rows.len());
                rows.push((c.text, target, c.lang));
            }
        }
        let probs = zero_shot.score(&rows)?;
        let labels: Vec<String> = crate::zero_shot::LABELS.iter().map(|l| l.to_string()).collect();
        let decisions: Vec<usize> = probs.iter().map(|p| stance_heads::metrics::argmax(p)).collect();
        columns.extend(task_columns(Task::Stance, &labels, &scored, &probs, &decisions));
        times.add_heads(Task::Stance, model_started.elapsed());
    }
    let table = DataFrame::new(comments.len(), columns)?;
    times.heads += started.elapsed();
    Ok(table)
}

/// What the task models read of one text's encoder pass.
#[derive(Debug, Clone, Default)]
struct Needs {
    /// The layers whose states cross-encoders read (sorted, distinct).
    layers: Vec<usize>,
    /// Whether a head reads its pooled vector.
    vector: bool,
}

impl Needs {
    /// Whether the text's pass must run the whole encoder: a head reads its vector, or no model
    /// reads its states (each text gives its token count, which comes with a whole pass).
    fn whole_pass(&self) -> bool {
        self.vector || self.layers.is_empty()
    }

    /// How many of the encoder's `depth` layers the text's pass runs.
    fn layers_run(&self, depth: usize) -> usize {
        match self.layers.last() {
            Some(&deepest) if !self.whole_pass() => deepest,
            _ => depth,
        }
    }
}

/// Every text's encoder pass, keeping bottom-layer states only of the texts whose `needs` name
/// layers, and of each only those layers (at most `keep.max_rows` rows). A text's states are
/// its whole width at each kept layer, kept until its chunk is scored: kept for every text,
/// they pushed the 20,000-comment bench to 611 MB peak RSS once replies were read by two
/// cross-encoders. A text that no head reads stops at the deepest layer kept of it (with
/// `--tasks sentiment` and the default model, every comment: 3 of the encoder's 12 layers).
/// The texts run in one pass per distinct set of needs (the texts without states in one more);
/// a text's outputs do not depend on its batch, so the passes give what one would.
fn embed(
    encoder: &ModelEncoder<'_>,
    texts: &[&str],
    keep: Option<&KeepStates>,
    needs: &[Needs],
) -> Result<Vec<Embedding>> {
    let Some(keep) = keep else {
        return Ok(encoder.embed_detailed(texts, None)?);
    };
    // Ordered by needs, so the passes run in the same order whatever the texts' order.
    let mut passes: BTreeMap<(&[usize], bool), Vec<usize>> = BTreeMap::new();
    for (i, needs) in needs.iter().enumerate() {
        passes.entry((needs.layers.as_slice(), needs.whole_pass())).or_default().push(i);
    }
    let mut out: Vec<Option<Embedding>> = (0..texts.len()).map(|_| None).collect();
    for ((layers, whole), indices) in passes {
        let keep = (!layers.is_empty()).then(|| {
            let keep = KeepStates::new(layers.iter().copied(), keep.max_rows);
            if whole {
                keep
            } else {
                keep.without_vectors()
            }
        });
        let part: Vec<&str> = indices.iter().map(|&i| texts[i]).collect();
        for (i, e) in indices.into_iter().zip(encoder.embed_detailed(&part, keep)?) {
            out[i] = Some(e);
        }
    }
    Ok(out.into_iter().map(|e| e.expect("every text is in one of the passes")).collect())
}

/// Marks in `needs` what `m` reads of each text, by the rules [`scores`] reads them with: the
/// layers its cross-encoders read (per layer: a text read only by cross-encoders of layer 9
/// keeps no states of layer 6), and whether a head reads the text's vector.
fn mark_needs(m: &TaskModel, own: &[usize], context: &[Option<usize>], needs: &mut [Needs]) {
    match m {
        TaskModel::Head(h) => {
            for (&comment, context) in own.iter().zip(context) {
                match (h.head.input_kind(), context) {
                    (InputKind::Single, _) => needs[comment].vector = true,
                    (InputKind::Pair, Some(u)) => {
                        needs[comment].vector = true;
                        needs[*u].vector = true;
                    }
                    (InputKind::Pair, None) => {}
                }
            }
        }
        TaskModel::CrossEncoder(c) => {
            let layer = c.model.meta.bottom_layers;
            for (_, context, comment) in cross_encoder_rows(c, m.reads() != TaskInput::Comment, own, context) {
                for text in std::iter::once(comment).chain(context) {
                    let layers = &mut needs[text].layers;
                    if let Err(at) = layers.binary_search(&layer) {
                        layers.insert(at, layer);
                    }
                }
            }
        }
        TaskModel::Blend(b) => b.members.iter().for_each(|member| mark_needs(member, own, context, needs)),
        TaskModel::Route(r) => {
            for (model, rows) in route_parts(r, context) {
                let (own, context) = rows_of(&rows, own, context);
                mark_needs(model, &own, &context, needs);
            }
        }
    }
}

/// A route's two models, each with the rows it scores.
fn route_parts<'a>(r: &'a crate::heads::SourcedRoute, context: &[Option<usize>]) -> [(&'a TaskModel, Vec<usize>); 2] {
    let (with, alone) = route::split_rows(context);
    [(&*r.with_context, with), (&*r.alone, alone)]
}

/// The comment and context texts of `rows`.
fn rows_of(rows: &[usize], own: &[usize], context: &[Option<usize>]) -> (Vec<usize>, Vec<Option<usize>>) {
    (rows.iter().map(|&row| own[row]).collect(), rows.iter().map(|&row| context[row]).collect())
}

/// One model's output on the rows it scores, `rows[k]` being the row of `raw[k]` and `probs[k]`.
#[derive(Default)]
struct Scores {
    rows: Vec<usize>,
    /// The scores the probabilities come from (`logit_*` columns): a head's or cross-encoder's
    /// logits, a blend's weighted log-probabilities, a route's from the model of each row.
    raw: Vec<Vec<f32>>,
    probs: Vec<Vec<f32>>,
}

/// What `m` says of the rows it can score (a pair model needs the row's context: `context[row]`
/// indexes `embeddings`, as `own[row]` does for the comment).
fn scores(
    m: &TaskModel,
    own: &[usize],
    context: &[Option<usize>],
    embeddings: &[Embedding],
    shared: &mut SharedPooled,
) -> Result<Scores> {
    let (rows, raw) = match m {
        TaskModel::Head(h) => head_scores(h, own, context, embeddings)?,
        TaskModel::CrossEncoder(c) => {
            let reads_context = m.reads() != TaskInput::Comment;
            cross_encoder_scores(c, reads_context, own, context, embeddings, shared)?
        }
        // The members read the same inputs (checked at load), so they score the same rows.
        TaskModel::Blend(b) => {
            let mut rows = Vec::new();
            let mut member_probs = Vec::with_capacity(b.members.len());
            for member in &b.members {
                let part = scores(member, own, context, embeddings, shared)?;
                rows = part.rows;
                member_probs.push(part.probs);
            }
            let raw = (0..rows.len())
                .map(|k| b.scores(&member_probs.iter().map(|p| p[k].clone()).collect::<Vec<_>>()))
                .collect();
            (rows, raw)
        }
        // Each model scores its own rows, at its own temperature.
        TaskModel::Route(r) => {
            let mut out = Scores::default();
            for (model, rows) in route_parts(r, context) {
                let (own, context) = rows_of(&rows, own, context);
                let part = scores(model, &own, &context, embeddings, shared)?;
                out.rows.extend(part.rows.iter().map(|&k| rows[k]));
                out.raw.extend(part.raw);
                out.probs.extend(part.probs);
            }
            return Ok(out);
        }
    };
    let probs = raw.iter().map(|z| softmax(z, m.temperature())).collect();
    Ok(Scores { rows, raw, probs })
}

/// A head's rows and logits: a pair head scores the rows with a context.
fn head_scores(
    h: &SourcedHead,
    own: &[usize],
    context: &[Option<usize>],
    embeddings: &[Embedding],
) -> Result<(Vec<usize>, Vec<Vec<f32>>)> {
    let mut rows = Vec::with_capacity(own.len());
    let mut features = Vec::with_capacity(own.len());
    for (row, (&v, u)) in own.iter().zip(context).enumerate() {
        let v = &embeddings[v].vector;
        match (h.head.input_kind(), u) {
            (InputKind::Single, _) => features.push(v.clone()),
            (InputKind::Pair, Some(u)) => features.push(pair_features(&embeddings[*u].vector, v)),
            (InputKind::Pair, None) => continue,
        }
        rows.push(row);
    }
    let raw = h.head.logits(&features)?;
    Ok((rows, raw))
}

/// A cross-encoder's rows (those of [`cross_encoder_rows`]) and logits. A model that shares
/// its layers with others reads the pooled vectors in `shared`, computing the missing ones.
fn cross_encoder_scores(
    c: &SourcedCrossEncoder,
    reads_context: bool,
    own: &[usize],
    context: &[Option<usize>],
    embeddings: &[Embedding],
    shared: &mut SharedPooled,
) -> Result<(Vec<usize>, Vec<Vec<f32>>)> {
    let layer = c.model.meta.bottom_layers;
    let states = |i: usize| embeddings[i].states_at(layer).expect("the encoder pass kept the cross-encoder's layer");
    let mut rows = Vec::with_capacity(own.len());
    let mut texts = Vec::with_capacity(own.len());
    for (row, context, comment) in cross_encoder_rows(c, reads_context, own, context) {
        rows.push(row);
        texts.push((context, comment));
    }
    let pair = |&(context, comment): &(Option<usize>, usize)| (context.map_or(&[][..], states), states(comment));
    let Some(id) = &c.model.meta.shared_layers else {
        let pairs: Vec<_> = texts.iter().map(pair).collect();
        return Ok((rows, c.model.raw_logits(&pairs, CROSS_ENCODER_BATCH_TOKENS)?));
    };
    let pooled = shared.entry(id.clone()).or_default();
    let mut missing: Vec<(Option<usize>, usize)> = texts.iter().filter(|t| !pooled.contains_key(t)).copied().collect();
    missing.sort_unstable();
    missing.dedup();
    let pairs: Vec<_> = missing.iter().map(pair).collect();
    pooled.extend(missing.into_iter().zip(c.model.pooled_rows(&pairs, CROSS_ENCODER_BATCH_TOKENS)?));
    let read: Vec<&[f32]> = texts.iter().map(|t| &pooled[t][..]).collect();
    Ok((rows, c.model.logits_of_pooled(&read)?))
}

/// The rows a cross-encoder scores, each with the texts it reads: `(row, context, comment)`.
/// A pair task's model scores the rows with a context; a single-text task's every row, with
/// its context where it `reads_context` and there is one.
fn cross_encoder_rows<'a>(
    c: &SourcedCrossEncoder,
    reads_context: bool,
    own: &'a [usize],
    context: &'a [Option<usize>],
) -> impl Iterator<Item = (usize, Option<usize>, usize)> + 'a {
    let single = c.task.input() == TaskInput::Comment;
    own.iter().zip(context).enumerate().filter_map(move |(row, (&comment, &context))| match context {
        Some(u) if reads_context => Some((row, Some(u), comment)),
        _ if single => Some((row, None, comment)),
        _ => None,
    })
}

/// Where the time of the scoring went, summed over chunks (for `stance bench`).
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    /// Tokenizing (on its own thread, overlapped) and running the encoder.
    pub encode: Duration,
    /// Pair features, heads and building the columns.
    pub heads: Duration,
    /// The part of `heads` each task's model took, in [`Task::ALL`]'s order (zero for a task
    /// not asked for): where a run's time goes once the encoder is done.
    pub heads_by_task: [Duration; Task::ALL.len()],
    /// Distinct texts encoded (comments, targets and parents outside their chunk).
    pub texts_encoded: usize,
    /// Tokens the encoder saw (after truncation).
    pub tokens_encoded: usize,
    /// Positions the encoder computed, padding included (`≥ tokens_encoded`).
    pub padded_tokens: usize,
    /// Σ n_tokens × layers run over encoded texts: the linear layers' work grows with it (a
    /// text that only cross-encoders read stops below the top layer).
    pub layer_tokens: f64,
    /// Σ n_tokens² × layers run over encoded texts: the attention's work grows with it.
    pub layer_attention_cost: f64,
}

impl StageTimes {
    fn add_heads(&mut self, task: Task, took: Duration) {
        let i = Task::ALL.iter().position(|&t| t == task).expect("every task is in Task::ALL");
        self.heads_by_task[i] += took;
    }

    /// The tasks whose models ran, with the time each took.
    pub fn heads_of_tasks(&self) -> impl Iterator<Item = (Task, Duration)> + '_ {
        Task::ALL.into_iter().zip(self.heads_by_task).filter(|&(_, took)| took > Duration::ZERO)
    }
}

/// The label and probability columns of one task whose outputs are `labels`; `scored[row]`
/// indexes `probs` and `decisions` (the predicted class of each scored row).
fn task_columns(
    task: Task,
    labels: &[String],
    scored: &[Option<usize>],
    probs: &[Vec<f32>],
    decisions: &[usize],
) -> Vec<Column> {
    let index = |name: &str| labels.iter().position(|l| l == name).expect("labels checked at load");
    let prob = |j: usize| -> Vec<Option<f32>> { scored.iter().map(|k| k.map(|k| probs[k][j])).collect() };
    match task.kind() {
        LabelKind::Categorical(out) => {
            let label: Vec<Option<&str>> = scored.iter().map(|k| k.map(|k| labels[decisions[k]].as_str())).collect();
            let mut cols = vec![Column::new(task.label_column().into(), label)];
            for l in out {
                cols.push(Column::new(l.prob_column.into(), prob(index(l.value))));
            }
            cols
        }
        LabelKind::Flag { prob_column, .. } => {
            let flag = index(task.label_column());
            let label: Vec<Option<bool>> = scored.iter().map(|k| k.map(|k| decisions[k] == flag)).collect();
            vec![
                Column::new(task.label_column().into(), label),
                Column::new(prob_column.into(), prob(flag)),
            ]
        }
    }
}
