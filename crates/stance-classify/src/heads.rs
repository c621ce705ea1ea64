//! The task models of a run, checked against the columns they fill.
//!
//! A task is scored either by a head on the encoder's pooled vectors (`stance train`) or by a
//! fine-tuned cross-encoder that reads the encoder's bottom-layer states of the target (or
//! parent) and the comment together (`stance tune`). Both read the same encoder pass.
//! A blend ([`crate::blend`]) scores a task with several such models and combines them; a route
//! ([`crate::route`]) scores rows that answer another text with one model and the others with
//! another.
//! Labels and column names come from the task catalogue ([`stance_core::task`]), the one place
//! that defines them, so the aggregate stage always finds what this stage writes.

use crate::blend::{self, BlendMeta};
use crate::error::{ClassifyError, Result};
use crate::route::{self, RouteMeta};
use stance_heads::model_encoder::file_sha256;
use stance_heads::source::{check_encoder_id, is_built_in};
use stance_core::TaskInput;
use stance_heads::{HeadSource, SourcedHead, Task};
use stance_model::batch::KeepStates;
use stance_tune::CrossEncoder;
use std::collections::{HashMap, HashSet};

/// A cross-encoder with where it came from and the SHA-256 of its weights.
pub struct SourcedCrossEncoder {
    pub task: Task,
    pub model: CrossEncoder,
    pub source: HeadSource,
    pub sha256: String,
}

impl SourcedCrossEncoder {
    /// `DIR (sha256 0123456789abcdef)`: how run records name it.
    pub fn describe(&self) -> String {
        let sha = &self.sha256[..16.min(self.sha256.len())];
        match &self.source {
            HeadSource::Default => format!("default {} cross-encoder (sha256 {sha})", self.task),
            _ => format!("{} (sha256 {sha})", self.source),
        }
    }

    /// Moves the layers onto the encoder's kernels in `compute`; nothing to do if they are
    /// there already (moved as they loaded, [`HeadSet::load`]).
    fn run_in(&mut self, compute: stance_model::Compute) -> Result<()> {
        if self.model.inference_compute() == Some(compute) {
            return Ok(());
        }
        let described = self.describe();
        self.model
            .run_inference_in(compute)
            .map_err(|e| ClassifyError::Invalid(format!("{described}: cannot run in {compute}: {e}")))
    }
}

/// Several models of one task whose probabilities are combined ([`crate::blend`]).
pub struct SourcedBlend {
    pub task: Task,
    pub meta: BlendMeta,
    /// The members, in the order of `blend.json`, none of them a blend.
    pub members: Vec<TaskModel>,
    /// The members' weights, summing to one.
    pub weights: Vec<f64>,
    /// The blend's classes: its first member's, in that order.
    pub labels: Vec<String>,
    pub source: HeadSource,
    /// SHA-256 of `blend.json` followed by the members' digests.
    pub sha256: String,
}

impl SourcedBlend {
    /// The blend's scores of one row (`Σ wᵢ · ln pᵢ` per class, in the blend's label order; the
    /// softmax makes them probabilities) from its members' probabilities: `probs[i]` are member
    /// `i`'s, in its own label order.
    pub fn scores(&self, probs: &[Vec<f32>]) -> Vec<f32> {
        let aligned: Vec<Vec<f32>> = self
            .members
            .iter()
            .zip(probs)
            .map(|(m, p)| {
                let own = m.labels();
                self.labels.iter().map(|l| p[own.iter().position(|o| o == l).expect("labels checked at load")]).collect()
            })
            .collect();
        let rows: Vec<&[f32]> = aligned.iter().map(Vec::as_slice).collect();
        blend::blend_scores(&rows, &self.weights)
    }
}

/// One model for the rows that answer another text, another for the rest ([`crate::route`]).
pub struct SourcedRoute {
    pub task: Task,
    pub meta: RouteMeta,
    /// Scores and decides the rows with a context; it reads the context.
    pub with_context: Box<TaskModel>,
    /// Scores and decides the rows without one.
    pub alone: Box<TaskModel>,
    pub source: HeadSource,
    /// SHA-256 of `route.json` followed by the two models' digests.
    pub sha256: String,
}

/// What scores one task.
pub enum TaskModel {
    /// A head on the pooled sentence vectors.
    Head(SourcedHead),
    /// A fine-tuned cross-encoder over bottom-layer states of the pair.
    CrossEncoder(SourcedCrossEncoder),
    /// Heads and cross-encoders combined.
    Blend(SourcedBlend),
    /// Rows with a context to one model, rows without to another.
    Route(SourcedRoute),
}

impl TaskModel {
    /// Loads `task`'s model from `source`: a folder holding `blend.json` is a blend, one holding
    /// `route.json` a route, one holding `cross_encoder.json` a cross-encoder, anything else a
    /// head. The built-in default is a blend or route compiled in ([`built_in`]): the blends of
    /// `models/blends/{stance,reply,sentiment,toxicity}` and the route of `models/routes/irony`;
    /// `head` is the built-in model without fine-tuned layers ([`built_in_heads`]).
    pub fn load(task: Task, source: &HeadSource) -> Result<Self> {
        let dir = match source {
            HeadSource::Default => return built_in(task),
            HeadSource::DefaultHead => return built_in_heads(task),
            HeadSource::BuiltIn(_) => return Ok(TaskModel::Head(source.load(task)?)),
            HeadSource::Folder(dir) => dir,
        };
        let dir = match FolderKind::of(dir) {
            Some(FolderKind::Blend) => return load_combined(task, dir, blend::META_FILE, blend_from),
            Some(FolderKind::Route) => return load_combined(task, dir, route::META_FILE, route_from),
            Some(FolderKind::CrossEncoder) => dir,
            // A folder without a head's file too: the head's loader names what is missing.
            Some(FolderKind::Head) | None => return Ok(TaskModel::Head(source.load(task)?)),
        };
        let fail = |message: String| head_error(task, source, message);
        let sha256 = file_sha256(&dir.join(stance_tune::model::WEIGHTS_FILE))?;
        let model = CrossEncoder::load(dir).map_err(|e| fail(e.to_string()))?;
        if model.meta.task != task.name() {
            return Err(fail(format!("is a {} cross-encoder, not a {task} one", model.meta.task)));
        }
        Ok(TaskModel::CrossEncoder(SourcedCrossEncoder { task, model, source: source.clone(), sha256 }))
    }

    pub fn task(&self) -> Task {
        match self {
            TaskModel::Head(h) => h.task(),
            TaskModel::CrossEncoder(c) => c.task,
            TaskModel::Blend(b) => b.task,
            TaskModel::Route(r) => r.task,
        }
    }

    /// What the model reads: its task's input, except that a tuned tone model which learnt
    /// from what texts answer reads a reply's parent too (a comment without one goes alone), as
    /// a route does. A blend's members all read the same.
    pub fn reads(&self) -> TaskInput {
        match self {
            TaskModel::CrossEncoder(c) if c.model.meta.reads_parent => TaskInput::ParentAndComment,
            TaskModel::Blend(b) => b.members[0].reads(),
            TaskModel::Route(r) => r.with_context.reads(),
            _ => self.task().input(),
        }
    }

    pub fn labels(&self) -> &[String] {
        match self {
            TaskModel::Head(h) => h.head.labels(),
            TaskModel::CrossEncoder(c) => c.model.labels(),
            TaskModel::Blend(b) => &b.labels,
            TaskModel::Route(r) => r.with_context.labels(),
        }
    }

    /// The weights' SHA-256 (run keys).
    pub fn sha256(&self) -> &str {
        match self {
            TaskModel::Head(h) => &h.sha256,
            TaskModel::CrossEncoder(c) => &c.sha256,
            TaskModel::Blend(b) => &b.sha256,
            TaskModel::Route(r) => &r.sha256,
        }
    }

    /// How run records name it: `default stance head (sha256 …)` or `DIR (sha256 …)`; a blend
    /// names its members with their weights.
    pub fn describe(&self) -> String {
        match self {
            TaskModel::Head(h) => h.describe(),
            TaskModel::CrossEncoder(c) => c.describe(),
            TaskModel::Blend(b) => {
                let members: Vec<String> =
                    b.members.iter().zip(&b.weights).map(|(m, w)| format!("{w:.2} × {}", m.describe())).collect();
                let name = match &b.source {
                    HeadSource::Default => format!("default {} blend", b.task),
                    HeadSource::DefaultHead => format!("default {} heads blend", b.task),
                    _ => b.source.to_string(),
                };
                format!("{name} (sha256 {}): blend of {}", &b.sha256[..16], members.join(" + "))
            }
            TaskModel::Route(r) => {
                let name = match &r.source {
                    HeadSource::Default => format!("default {} route", r.task),
                    _ => r.source.to_string(),
                };
                let (with_context, alone) = (r.with_context.describe(), r.alone.describe());
                format!("{name} (sha256 {}): {with_context} where a comment answers another, else {alone}", &r.sha256[..16])
            }
        }
    }

    /// Divides the raw scores before the softmax (fitted on validation data). A blend's scores
    /// are already log-probabilities of calibrated members; a route's members apply their own.
    pub fn temperature(&self) -> f64 {
        match self {
            TaskModel::Head(h) => h.head.meta.temperature,
            TaskModel::CrossEncoder(c) => c.model.meta.temperature,
            TaskModel::Blend(_) | TaskModel::Route(_) => 1.0,
        }
    }

    /// The cross-encoders this model runs (itself, or a blend's members).
    pub fn cross_encoders(&self) -> Vec<&SourcedCrossEncoder> {
        match self {
            TaskModel::Head(_) => Vec::new(),
            TaskModel::CrossEncoder(c) => vec![c],
            TaskModel::Blend(b) => b.members.iter().flat_map(TaskModel::cross_encoders).collect(),
            TaskModel::Route(r) => [&r.with_context, &r.alone].into_iter().flat_map(|m| m.cross_encoders()).collect(),
        }
    }

    /// The cross-encoders within, mutably (see [`Self::cross_encoders`]).
    fn cross_encoders_mut(&mut self) -> Vec<&mut SourcedCrossEncoder> {
        match self {
            TaskModel::Head(_) => Vec::new(),
            TaskModel::CrossEncoder(c) => vec![c],
            TaskModel::Blend(b) => b.members.iter_mut().flat_map(TaskModel::cross_encoders_mut).collect(),
            TaskModel::Route(r) => {
                [&mut r.with_context, &mut r.alone].into_iter().flat_map(|m| m.cross_encoders_mut()).collect()
            }
        }
    }

    /// The predicted class of one row's probabilities: the model's per-language thresholds or
    /// class offsets, else the most probable class. `has_context`: the row answers another text
    /// (a route decides it with the model that scored it).
    pub fn decide(&self, probs: &[f32], lang: Option<&str>, has_context: bool) -> usize {
        match self {
            TaskModel::Route(r) if has_context => r.with_context.decide(probs, lang, has_context),
            TaskModel::Route(r) => r.alone.decide(probs, lang, has_context),
            _ => self.decision_rules()[0].1.decide(self.labels(), probs, lang),
        }
    }

    /// The model's decision rules (thresholds of a flag model, or class offsets), as `run.json`
    /// lists them: one, named `""`, or a route's two, named `with_context` and `alone`.
    pub fn decision_rules(&self) -> Vec<(&'static str, &stance_heads::DecisionRule)> {
        match self {
            TaskModel::Head(h) => vec![("", &h.head.meta.decision)],
            TaskModel::CrossEncoder(c) => vec![("", &c.model.meta.decision)],
            TaskModel::Blend(b) => vec![("", &b.meta.decision)],
            // Neither model of a route is a route (checked at load): each has one rule.
            TaskModel::Route(r) => {
                vec![("with_context", r.with_context.decision_rules()[0].1), ("alone", r.alone.decision_rules()[0].1)]
            }
        }
    }

    pub fn check_encoder(&self, encoder_id: &str) -> Result<()> {
        match self {
            TaskModel::Head(h) => Ok(h.check_encoder(encoder_id)?),
            TaskModel::CrossEncoder(c) => {
                check_encoder_id(&c.model.meta.encoder, encoder_id).map_err(|message| head_error(c.task, &c.source, message))
            }
            TaskModel::Blend(b) => b.members.iter().try_for_each(|m| m.check_encoder(encoder_id)),
            TaskModel::Route(r) => [&r.with_context, &r.alone].into_iter().try_for_each(|m| m.check_encoder(encoder_id)),
        }
    }
}

/// The built-in model of `task`: a blend or route of `models/blends` or `models/routes` as
/// compiled in, with the one cross-encoder it names (the other member is the task's built-in
/// head, `default`), or a cross-encoder alone. Each beat the head alone on the task's test
/// splits (models/EVAL.md, in the section named beside it).
fn built_in(task: Task) -> Result<TaskModel> {
    macro_rules! cross_encoder {
        ($name:literal) => {
            &BuiltInCrossEncoder {
                name: concat!("../../tuned/", $name),
                meta: include_str!(concat!("../../../models/tuned/", $name, "/cross_encoder.json")),
                weights: include_bytes!(concat!("../../../models/tuned/", $name, "/cross_encoder.safetensors")),
                sha256: include_str!(concat!(env!("OUT_DIR"), "/", $name, ".sha256")),
            }
        };
    }
    let (file, build, cross_encoder): (&str, BuildFrom, _) = match task {
        // The six-layer stance cross-encoder reads target and comment together: better on
        // consultation comments, question → answer stance and French comments on a politician
        // ("2026-12-05: the stance blend becomes the default"), and since it also learnt
        // comments that judge the article itself, on those ("2026-12-07: the stance
        // cross-encoder learns comments that judge the article"; two epochs of them since that
        // evening: "a second epoch with the article markers"); since a third epoch on every row
        // of its files, better on consultation comments ("every row of the stance files").
        Task::Stance => (
            include_str!("../../../models/blends/stance/blend.json"),
            blend_from,
            cross_encoder!("stance-allrows"),
        ),
        // The reply cross-encoder also learnt from statements and answers ("2026-12-03: the
        // reply blend"), and since 2026-12-07 replies that say they agree or disagree and then
        // argue, which the one before read as agreement ("the reply cross-encoder learns
        // replies that argue").
        Task::Reply => (
            include_str!("../../../models/blends/reply/blend.json"),
            blend_from,
            cross_encoder!("reply-statements-argued"),
        ),
        // Replies to the irony cross-encoder, read with their parent; other comments to the head.
        // Fewer non-ironic replies flagged at a higher macro-F1 ("2026-12-04: irony read with
        // what it answers").
        Task::Irony => (include_str!("../../../models/routes/irony/route.json"), route_from, cross_encoder!("irony")),
        // Six fine-tuned layers over the comment beside the head, trained on toxicity and
        // sentiment at once: a higher mean over the toxicity test files and more French toxic
        // comments found at the same share of French non-toxic validation rows flagged
        // ("2026-12-06: the tone6 toxicity blend becomes the default").
        Task::Toxicity => (
            include_str!("../../../models/blends/toxicity/blend.json"),
            blend_from,
            cross_encoder!("tone6-toxicity"),
        ),
        // Nine fine-tuned layers over the comment, alone: better on UMSAB's validation split
        // than the blend of the head and six layers, which needs all twelve of the encoder's
        // layers beside its own six ("2026-12-06: nine fine-tuned sentiment layers alone").
        Task::Sentiment => return cross_encoder!("sentiment-top9").load(task),
    };
    built_in_combined(task, HeadSource::Default, file, build, Some(cross_encoder))
}

/// The built-in model of `task` without fine-tuned layers (`head`, what `--speed fast` runs):
/// for stance and reply the task's head blended with its markers head (`models/blends/*-heads`,
/// chosen on the validation files of the full blends), for the other tasks the head alone. It
/// reads nothing but the vectors of the encoder pass every head shares.
fn built_in_heads(task: Task) -> Result<TaskModel> {
    let file = match task {
        Task::Stance => include_str!("../../../models/blends/stance-heads/blend.json"),
        Task::Reply => include_str!("../../../models/blends/reply-heads/blend.json"),
        Task::Sentiment | Task::Irony | Task::Toxicity => {
            return Ok(TaskModel::Head(HeadSource::DefaultHead.load(task)?));
        }
    };
    built_in_combined(task, HeadSource::DefaultHead, file, blend_from, None)
}

/// A cross-encoder compiled into the binary: its folder as a built-in blend or route names it,
/// its `cross_encoder.json`, its weights and their SHA-256 (from build.rs).
struct BuiltInCrossEncoder {
    name: &'static str,
    meta: &'static str,
    weights: &'static [u8],
    sha256: &'static str,
}

impl BuiltInCrossEncoder {
    /// The model, as `task`'s; its compiled-in weights are handed back to the system once read.
    fn load(&self, task: Task) -> Result<TaskModel> {
        let model = CrossEncoder::from_bytes(self.meta, self.weights)
            .map_err(|e| head_error(task, &HeadSource::Default, format!("built-in cross-encoder: {e}")))?;
        stance_model::resident::release_static(self.weights);
        let sha256 = self.sha256.to_string();
        Ok(TaskModel::CrossEncoder(SourcedCrossEncoder { task, model, source: HeadSource::Default, sha256 }))
    }
}

/// A blend or route compiled into the binary from its `file` (named by `source` in run
/// records), built by `build`: the models it names are the task's built-in head (`default`),
/// `cross_encoder` if any, and heads of `models/heads` compiled in beside the default
/// ([`stance_heads::source::is_built_in`]).
fn built_in_combined(
    task: Task,
    source: HeadSource,
    file: &str,
    build: BuildFrom,
    cross_encoder: Option<&BuiltInCrossEncoder>,
) -> Result<TaskModel> {
    let extra_head = |name: &str| {
        name.strip_prefix("../../heads/").filter(|folder| is_built_in(folder, task)).map(str::to_string)
    };
    let resolve = |model: &str| match (model, extra_head(model), cross_encoder) {
        ("default", ..) => Ok(TaskModel::Head(HeadSource::Default.load(task)?)),
        (name, _, Some(cross_encoder)) if name == cross_encoder.name => cross_encoder.load(task),
        (_, Some(folder), _) => TaskModel::load(task, &HeadSource::BuiltIn(folder)),
        (other, None, _) => {
            Err(head_error(task, &HeadSource::Default, format!("the built-in model names `{other}`, which is not built in")))
        }
    };
    build(task, source, file.as_bytes().to_vec(), &resolve)
}

/// What builds a blend or route from its file's bytes, each model it names loaded by the resolver.
type BuildFrom = fn(Task, HeadSource, Vec<u8>, &dyn Fn(&str) -> Result<TaskModel>) -> Result<TaskModel>;

/// Loads the blend or route in `dir` from its `file` (`blend.json`, `route.json`) with `build`:
/// the models it names are the built-in head for `default`, else folders relative to `dir`.
fn load_combined(task: Task, dir: &std::path::Path, file: &str, build: BuildFrom) -> Result<TaskModel> {
    let source = HeadSource::Folder(dir.to_path_buf());
    let path = dir.join(file);
    let bytes = std::fs::read(&path)
        .map_err(|e| head_error(task, &source, format!("cannot read {}: {e}", path.display())))?;
    let resolve = |model: &str| match model {
        "default" => Ok(TaskModel::Head(HeadSource::Default.load(task)?)),
        path => TaskModel::load(task, &HeadSource::Folder(dir.join(path))),
    };
    build(task, source, bytes, &resolve)
}

/// A blend's or route's `file` (`kind`) of `task` parsed, once its `format` and `task` are checked.
fn parse_combined<M: serde::de::DeserializeOwned>(
    bytes: &[u8],
    file: &str,
    format: &str,
    kind: &str,
    task: Task,
) -> std::result::Result<M, String> {
    #[derive(serde::Deserialize)]
    struct Header {
        format: String,
        task: String,
    }
    let parse_error = |e: serde_json::Error| format!("{file}: {e}");
    let header: Header = serde_json::from_slice(bytes).map_err(parse_error)?;
    if header.format != format {
        return Err(format!("format `{}`, expected `{format}`", header.format));
    }
    if header.task != task.name() {
        return Err(format!("is a {} {kind}, not a {task} one", header.task));
    }
    serde_json::from_slice(bytes).map_err(parse_error)
}

/// A route of `task` from its `route.json` bytes, each model loaded by `resolve`, refusing a
/// task that reads two texts anyway, a nested route, models of other labels or label orders,
/// and a `with_context` model that does not read the context.
fn route_from(
    task: Task,
    source: HeadSource,
    bytes: Vec<u8>,
    resolve: &dyn Fn(&str) -> Result<TaskModel>,
) -> Result<TaskModel> {
    let fail = |message: String| head_error(task, &source, message);
    let meta: RouteMeta = parse_combined(&bytes, route::META_FILE, route::FORMAT, "route", task).map_err(fail)?;
    if task.input() != TaskInput::Comment {
        return Err(fail(format!("a {task} model always reads two texts: a route is for single-text tasks")));
    }
    let (with_context, alone) = (resolve(&meta.with_context)?, resolve(&meta.alone)?);
    for (name, model) in [(&meta.with_context, &with_context), (&meta.alone, &alone)] {
        if matches!(model, TaskModel::Route(_)) {
            return Err(fail(format!("`{name}` is itself a route")));
        }
    }
    if with_context.reads() == TaskInput::Comment {
        return Err(fail(format!("`{}` reads the comment alone, so it cannot score rows by their context", meta.with_context)));
    }
    // Each model decides its own rows, so both must give probabilities in one label order.
    if with_context.labels() != alone.labels() {
        return Err(fail(format!(
            "`{}` outputs {:?} and `{}` {:?}: a route's models must list the same labels in the same order",
            meta.with_context,
            with_context.labels(),
            meta.alone,
            alone.labels()
        )));
    }
    let mut digest = bytes;
    digest.extend_from_slice(with_context.sha256().as_bytes());
    digest.extend_from_slice(alone.sha256().as_bytes());
    let sha256 = stance_heads::source::sha256_hex(&digest);
    let (with_context, alone) = (Box::new(with_context), Box::new(alone));
    Ok(TaskModel::Route(SourcedRoute { task, meta, with_context, alone, source, sha256 }))
}

/// A blend of `task` from its `blend.json` bytes, each member loaded by `resolve`, refusing a
/// nested blend, members of another task, with other labels or that read other inputs, and
/// weights that are not positive.
fn blend_from(
    task: Task,
    source: HeadSource,
    bytes: Vec<u8>,
    resolve: &dyn Fn(&str) -> Result<TaskModel>,
) -> Result<TaskModel> {
    let fail = |message: String| head_error(task, &source, message);
    let meta: BlendMeta = parse_combined(&bytes, blend::META_FILE, blend::FORMAT, "blend", task).map_err(fail)?;
    let weights = blend::normalised_weights(&meta.members).map_err(fail)?;
    let mut members: Vec<TaskModel> = Vec::with_capacity(meta.members.len());
    let mut digest = bytes;
    for member in &meta.members {
        let model = resolve(&member.model)?;
        if matches!(model, TaskModel::Blend(_) | TaskModel::Route(_)) {
            return Err(fail(format!("member `{}` is itself a blend or a route", member.model)));
        }
        if let Some(first) = members.first().map(TaskModel::labels) {
            let sorted = |l: &[String]| {
                let mut l = l.to_vec();
                l.sort_unstable();
                l
            };
            if sorted(first) != sorted(model.labels()) {
                return Err(fail(format!("member `{}` outputs {:?}, the first {first:?}", member.model, model.labels())));
            }
        }
        digest.extend_from_slice(model.sha256().as_bytes());
        members.push(model);
    }
    if let Some(m) = members.iter().find(|m| m.reads() != members[0].reads()) {
        return Err(fail(format!("its members read different inputs ({} does not read as the first)", m.describe())));
    }
    let labels = members[0].labels().to_vec();
    let sha256 = stance_heads::source::sha256_hex(&digest);
    Ok(TaskModel::Blend(SourcedBlend { task, meta, members, weights, labels, source, sha256 }))
}

/// The task models that run, in the order given.
pub struct HeadSet {
    pub models: Vec<TaskModel>,
}

impl HeadSet {
    /// Loads each `(task, source)`, refusing a model of another task or whose labels are not
    /// its task's output labels. Which encoder each was trained on is checked apart
    /// ([`Self::check_encoder`]), so that they can load while the encoder does.
    ///
    /// With `encoder_compute` (the arithmetic the encoder will run in), each cross-encoder that
    /// shares no layers moves to the encoder's kernels as soon as it is loaded, as
    /// [`Self::run_cross_encoders_in`] would move it, and its f32 copy of the layers is
    /// dropped: held for every model until the end of loading, those copies (190 MB for the
    /// default models) set the peak of a short run.
    pub fn load(sources: &[(Task, HeadSource)], encoder_compute: Option<stance_model::Compute>) -> Result<Self> {
        let mut set = HeadSet { models: Vec::with_capacity(sources.len()) };
        for (task, source) in sources {
            let mut loaded = TaskModel::load(*task, source)?;
            check_labels(*task, loaded.labels()).map_err(|message| head_error(*task, source, message))?;
            if let Some(compute) = encoder_compute {
                for c in loaded.cross_encoders_mut().into_iter().filter(|c| c.model.meta.shared_layers.is_none()) {
                    let int8_layers = c.model.meta.int8_layers;
                    c.run_in(compute.for_fine_tuned_layers(int8_layers))?;
                }
            }
            set.models.push(loaded);
        }
        Ok(set)
    }

    /// Refuses a model trained on another encoder than `encoder_id`'s.
    pub fn check_encoder(&self, encoder_id: &str) -> Result<()> {
        self.models.iter().try_for_each(|m| m.check_encoder(encoder_id))
    }

    pub fn tasks(&self) -> Vec<Task> {
        self.models.iter().map(TaskModel::task).collect()
    }

    /// Runs the cross-encoders' layers on the encoder's kernels, in the arithmetic that goes
    /// with the encoder's `compute` ([`stance_model::Compute::for_fine_tuned_layers`]: under
    /// int8, bf16 or int16 unless the model is marked `int8_layers`) (`stance classify`; `eval`
    /// and `calibrate` keep the exact f32 ops). Models that share their layers compute them
    /// once, so in one arithmetic: int8 only if every one of them is marked.
    pub fn run_cross_encoders_in(&mut self, compute: stance_model::Compute) -> Result<()> {
        self.check_shared_layers()?;
        let unmarked: HashSet<String> = (self.models.iter().flat_map(TaskModel::cross_encoders))
            .filter(|c| !c.model.meta.int8_layers)
            .filter_map(|c| c.model.meta.shared_layers.clone())
            .collect();
        for c in self.models.iter_mut().flat_map(TaskModel::cross_encoders_mut) {
            let meta = &c.model.meta;
            let int8_layers = meta.int8_layers && meta.shared_layers.as_ref().is_none_or(|id| !unmarked.contains(id));
            c.run_in(compute.for_fine_tuned_layers(int8_layers))?;
        }
        Ok(())
    }

    /// Each task's fine-tuned layers' arithmetic once set up ([`Self::run_cross_encoders_in`]),
    /// for `run.json`: the task's name and its cross-encoders' arithmetics, distinct, in order.
    pub fn fine_tuned_computes(&self) -> Vec<(Task, Vec<stance_model::Compute>)> {
        let mut by_task = Vec::new();
        for m in &self.models {
            let mut computes = Vec::new();
            for compute in m.cross_encoders().iter().filter_map(|c| c.model.inference_compute()) {
                if !computes.contains(&compute) {
                    computes.push(compute);
                }
            }
            if !computes.is_empty() {
                by_task.push((m.task(), computes));
            }
        }
        by_task
    }

    /// Refuses cross-encoders that carry the same `shared_layers` id with layers that differ:
    /// classify computes such models' pooled vectors once for all of them, which is right only
    /// when their layers are one and the same (models of one multi-task run).
    fn check_shared_layers(&self) -> Result<()> {
        let mut first: HashMap<&str, &SourcedCrossEncoder> = HashMap::new();
        for c in self.models.iter().flat_map(TaskModel::cross_encoders) {
            let Some(id) = c.model.meta.shared_layers.as_deref() else { continue };
            match first.get(id) {
                None => {
                    first.insert(id, c);
                }
                Some(other) if !other.model.same_layers(&c.model)? => {
                    return Err(ClassifyError::Invalid(format!(
                        "{} and {} say they share their layers (shared_layers {id}) but their layers differ",
                        other.describe(),
                        c.describe()
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The bottom-layer states the cross-encoders need from the encoder pass (`None` without
    /// any): every layer one of them reads, as many rows as the hungriest reads (each cuts the
    /// rows to its own budget).
    pub fn keep_states(&self) -> Option<KeepStates> {
        let metas: Vec<_> =
            self.models.iter().flat_map(TaskModel::cross_encoders).map(|c| &c.model.meta).collect();
        let rows = metas.iter().map(|meta| meta.state_rows()).max()?;
        Some(KeepStates::new(metas.iter().map(|meta| meta.bottom_layers), rows))
    }
}

/// The kinds of folder [`TaskModel::load`] reads, each known by its metadata file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderKind {
    Blend,
    Route,
    CrossEncoder,
    Head,
}

impl FolderKind {
    /// In the order a folder is recognised by: one holding `blend.json` is a blend whatever
    /// else it holds.
    const ALL: [Self; 4] = [Self::Blend, Self::Route, Self::CrossEncoder, Self::Head];

    pub fn meta_file(self) -> &'static str {
        match self {
            Self::Blend => blend::META_FILE,
            Self::Route => route::META_FILE,
            Self::CrossEncoder => stance_tune::model::META_FILE,
            Self::Head => stance_heads::head::META_FILE,
        }
    }

    /// The kind of model `dir` holds, or `None` when it holds none of their metadata files (an
    /// encoder's folder, for one).
    pub fn of(dir: &std::path::Path) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| dir.join(kind.meta_file()).is_file())
    }
}

/// The task of the model in `dir` (a head, cross-encoder, blend or route folder) as its
/// metadata file says, or `None` when `dir` holds no task model ([`FolderKind::of`]).
pub fn folder_task(dir: &std::path::Path) -> Option<Result<Task>> {
    let file = dir.join(FolderKind::of(dir)?.meta_file());
    let task = || -> std::result::Result<Task, String> {
        let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
        let meta: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let name = meta.get("task").and_then(|t| t.as_str()).ok_or("no `task` field")?;
        name.parse::<Task>().map_err(|e| e.to_string())
    };
    Some(task().map_err(|message| ClassifyError::Invalid(format!("{}: {message}", file.display()))))
}

/// The error about `task`'s model from `source`.
fn head_error(task: Task, source: &HeadSource, message: String) -> ClassifyError {
    ClassifyError::Head { task: task.name().to_string(), message: format!("{source}: {message}") }
}

/// A model must output exactly its task's classes (the catalogue's `model_labels`), in any order.
fn check_labels(task: Task, labels: &[String]) -> std::result::Result<(), String> {
    let mut want = task.model_labels();
    let mut have: Vec<&str> = labels.iter().map(String::as_str).collect();
    want.sort_unstable();
    have.sort_unstable();
    if want != have {
        return Err(format!("outputs {have:?}; a {task} model must output {want:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn blend_dir(root: &std::path::Path, name: &str, task: &str, members: &[(&str, f64)]) -> std::path::PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let members: Vec<_> = members.iter().map(|(m, w)| serde_json::json!({"model": m, "weight": w})).collect();
        let meta = serde_json::json!({"format": blend::FORMAT, "task": task, "members": members});
        std::fs::write(dir.join(blend::META_FILE), meta.to_string()).unwrap();
        dir
    }

    fn load_error(task: Task, dir: &std::path::Path) -> String {
        match TaskModel::load(task, &HeadSource::Folder(dir.to_path_buf())) {
            Ok(_) => panic!("{} loaded", dir.display()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_blend_loads_its_members_and_refuses_what_it_cannot_combine() {
        let tmp = tempfile::tempdir().unwrap();
        let ok = blend_dir(tmp.path(), "ok", "stance", &[("default", 3.0), ("default", 1.0)]);
        let TaskModel::Blend(b) = TaskModel::load(Task::Stance, &HeadSource::Folder(ok.clone())).unwrap() else {
            panic!("not a blend")
        };
        assert_eq!(b.weights, vec![0.75, 0.25]);
        assert_eq!(b.labels, b.members[0].labels());
        assert!(TaskModel::Blend(b).describe().contains("0.75 × default stance head"));

        let zero = blend_dir(tmp.path(), "zero", "stance", &[("default", 1.0), ("default", 0.0)]);
        assert!(load_error(Task::Stance, &zero).contains("weights must be positive"));
        let nested = blend_dir(tmp.path(), "nested", "stance", &[("default", 1.0), ("../ok", 1.0)]);
        assert!(load_error(Task::Stance, &nested).contains("is itself a blend"));
        assert!(load_error(Task::Reply, &ok).contains("is a stance blend, not a reply one"));
        let missing = blend_dir(tmp.path(), "missing", "stance", &[("default", 1.0), ("nowhere", 1.0)]);
        assert!(load_error(Task::Stance, &missing).contains("nowhere"));
    }

    fn route_dir(root: &std::path::Path, name: &str, task: &str, with_context: &str, alone: &str) -> std::path::PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let meta = serde_json::json!({"format": route::FORMAT, "task": task, "with_context": with_context, "alone": alone});
        std::fs::write(dir.join(route::META_FILE), meta.to_string()).unwrap();
        dir
    }

    #[test]
    fn a_route_refuses_what_it_cannot_route() {
        let tmp = tempfile::tempdir().unwrap();
        let heads = route_dir(tmp.path(), "heads", "irony", "default", "default");
        assert!(load_error(Task::Irony, &heads).contains("`default` reads the comment alone"));
        assert!(load_error(Task::Toxicity, &heads).contains("is a irony route, not a toxicity one"));
        let pair = route_dir(tmp.path(), "pair", "stance", "default", "default");
        assert!(load_error(Task::Stance, &pair).contains("a route is for single-text tasks"));
        let missing = route_dir(tmp.path(), "missing", "irony", "nowhere", "default");
        assert!(load_error(Task::Irony, &missing).contains("nowhere"));
        std::fs::write(heads.join(route::META_FILE), r#"{"format": "stance-route/2"}"#).unwrap();
        assert!(load_error(Task::Irony, &heads).contains("route.json"));
    }

    #[test]
    fn the_shipped_stance_blend_reads_the_heads_and_the_cross_encoder() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/blends/stance");
        let TaskModel::Blend(b) = TaskModel::load(Task::Stance, &HeadSource::Folder(dir)).unwrap() else {
            panic!("not a blend")
        };
        assert!(matches!(b.members[..], [TaskModel::Head(_), TaskModel::Head(_), TaskModel::CrossEncoder(_)]));
        assert!((b.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(b.meta.decision.class_offsets.is_some());
    }

    #[test]
    fn the_default_stance_reply_and_toxicity_models_are_their_blends_compiled_in() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let blends = [
            (Task::Stance, TaskInput::TargetAndComment),
            (Task::Reply, TaskInput::ParentAndComment),
            (Task::Toxicity, TaskInput::Comment),
        ];
        for (task, reads) in blends {
            let TaskModel::Blend(built_in) = TaskModel::load(task, &HeadSource::Default).unwrap() else {
                panic!("the default {task} model is not a blend")
            };
            // The task's default head first, the cross-encoder last; the reply and stance blends
            // have a second head between them (built in too).
            match (task, &built_in.members[..]) {
                (Task::Reply | Task::Stance, [TaskModel::Head(_), TaskModel::Head(h), TaskModel::CrossEncoder(_)]) => {
                    assert_eq!(h.source, HeadSource::BuiltIn(format!("{task}-markers")))
                }
                (Task::Toxicity, [TaskModel::Head(_), TaskModel::CrossEncoder(_)]) => {}
                (task, members) => panic!("the default {task} blend has {} members of other kinds", members.len()),
            }
            assert_eq!(built_in.members.last().unwrap().reads(), reads, "{task}");
            // The same blend.json and the same members' weights as the folder: the same digest.
            let dir = repo.join(format!("models/blends/{task}"));
            let folder = TaskModel::load(task, &HeadSource::Folder(dir)).unwrap();
            assert_eq!(built_in.sha256, folder.sha256(), "{task}");
            let described = TaskModel::Blend(built_in).describe();
            assert!(described.starts_with(&format!("default {task} blend (sha256 ")), "{described}");
            let members = [format!("× default {task} head"), format!("× default {task} cross-encoder")];
            assert!(members.iter().all(|m| described.contains(m.as_str())), "{described}");
            // The head alone is one flag away.
            let head = TaskModel::load(task, &HeadSource::Folder(repo.join(format!("models/heads/{task}")))).unwrap();
            assert!(matches!(head, TaskModel::Head(_)), "{task}");
        }
    }

    #[test]
    fn the_default_sentiment_model_is_the_nine_layer_cross_encoder_compiled_in() {
        let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
        let TaskModel::CrossEncoder(built_in) = TaskModel::load(Task::Sentiment, &HeadSource::Default).unwrap() else {
            panic!("the default sentiment model is not a cross-encoder")
        };
        // It reads the states after layer 3, so a sentiment-only run stops the encoder there.
        assert_eq!((built_in.model.meta.bottom_layers, built_in.model.meta.top_layers), (3, 9));
        let folder = TaskModel::load(Task::Sentiment, &HeadSource::Folder(models.join("tuned/sentiment-top9"))).unwrap();
        assert_eq!(built_in.sha256, folder.sha256());
        assert!(built_in.describe().starts_with("default sentiment cross-encoder (sha256 "), "{}", built_in.describe());
        // The blend it replaced and the head alone are one flag away.
        let blend = TaskModel::load(Task::Sentiment, &HeadSource::Folder(models.join("blends/sentiment"))).unwrap();
        assert!(matches!(blend, TaskModel::Blend(_)));
        let head = TaskModel::load(Task::Sentiment, &HeadSource::Folder(models.join("heads/sentiment"))).unwrap();
        assert!(matches!(head, TaskModel::Head(_)));
    }

    #[test]
    fn the_default_irony_model_is_the_irony_route_compiled_in() {
        let TaskModel::Route(built_in) = TaskModel::load(Task::Irony, &HeadSource::Default).unwrap() else {
            panic!("the default irony model is not a route")
        };
        assert!(matches!((&*built_in.with_context, &*built_in.alone), (TaskModel::CrossEncoder(_), TaskModel::Head(_))));
        assert_eq!(built_in.with_context.reads(), TaskInput::ParentAndComment);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/routes/irony");
        let folder = TaskModel::load(Task::Irony, &HeadSource::Folder(dir.clone())).unwrap();
        assert_eq!(built_in.sha256, folder.sha256());
        // A route is not a member of a route or a blend.
        let tmp = tempfile::tempdir().unwrap();
        let nested = route_dir(tmp.path(), "nested", "irony", dir.to_str().unwrap(), "default");
        assert!(load_error(Task::Irony, &nested).contains("is itself a route"));
        let blend = blend_dir(tmp.path(), "blend", "irony", &[("default", 1.0), (dir.to_str().unwrap(), 1.0)]);
        assert!(load_error(Task::Irony, &blend).contains("is itself a blend or a route"));
    }

    #[test]
    fn cross_encoders_moved_as_they_load_run_as_those_moved_after() {
        let sources: Vec<(Task, HeadSource)> = Task::ALL.iter().map(|&t| (t, HeadSource::Default)).collect();
        // int8: the stance and toxicity models are marked to keep int8 layers, the others are
        // not, and the toxicity model shares its layers (its arithmetic waits for every model).
        let compute = stance_model::Compute::Int8;
        let mut early = HeadSet::load(&sources, Some(compute)).unwrap();
        let cross_encoders: Vec<_> = early.models.iter().flat_map(TaskModel::cross_encoders).collect();
        assert!(cross_encoders.iter().any(|c| c.model.meta.shared_layers.is_some()));
        for c in cross_encoders {
            assert_eq!(c.model.inference_compute().is_some(), c.model.meta.shared_layers.is_none(), "{}", c.describe());
        }
        early.run_cross_encoders_in(compute).unwrap();
        let mut late = HeadSet::load(&sources, None).unwrap();
        assert!(late.models.iter().flat_map(TaskModel::cross_encoders).all(|c| c.model.inference_compute().is_none()));
        late.run_cross_encoders_in(compute).unwrap();
        assert_eq!(early.fine_tuned_computes(), late.fine_tuned_computes());
    }

    #[test]
    fn label_sets_are_checked_per_task() {
        assert!(check_labels(Task::Stance, &strings(&["against", "favor", "none"])).is_ok());
        assert!(check_labels(Task::Stance, &strings(&["against", "favor"])).is_err());
        assert!(check_labels(Task::Reply, &strings(&["agree", "disagree", "none"])).is_ok());
        assert!(check_labels(Task::Irony, &strings(&["ironic", "not_ironic"])).is_ok());
        assert!(check_labels(Task::Irony, &strings(&["yes", "no"])).is_err());
        assert!(check_labels(Task::Toxicity, &strings(&["non_toxic", "toxic"])).is_ok());
        assert!(check_labels(Task::Toxicity, &strings(&["toxic", "a", "b"])).is_err());
    }
}
