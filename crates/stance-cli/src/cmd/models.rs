//! `stance models list` and `stance models info MODEL`: which models are at hand, and what one
//! of them is (architecture, labels, parameters, storage type, size on disk, where found).

use crate::flags::{GgufFlags, Global};
use anyhow::{Context, Result};
use clap::Subcommand;
use stance_core::{Task, TaskInput};
use stance_classify::heads::TaskModel;
use stance_heads::HeadSource;
use stance_model::manifest::Manifest;
use stance_model::runtime::OpenModel;
use stance_model::source::{self, ModelRef, ResolveOptions};
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Subcommand, Debug)]
pub enum ModelsCommand {
    /// The default model (where its encoder was found, its heads) and the models in the
    /// Hugging Face cache. Never touches the network.
    List,
    /// Load MODEL and describe it: an encoder or classifier, or a task's model folder (a head,
    /// cross-encoder, blend or route, as `--head TASK=DIR` takes).
    Info {
        /// `default`, a folder, or a hub id `org/name[@revision]`.
        model: String,
        /// Never touch the network (also set by HF_HUB_OFFLINE=1).
        #[arg(long)]
        offline: bool,
        /// Describe the model as loaded with these flags.
        #[command(flatten)]
        gguf: GgufFlags,
    },
}

pub fn run(args: Args, global: &Global) -> Result<ExitCode> {
    match args.command {
        ModelsCommand::List => list(),
        ModelsCommand::Info {
            model,
            offline,
            gguf,
        } => {
            if let Some(task) = stance_classify::heads::folder_task(Path::new(&model)) {
                let source = HeadSource::Folder(model.clone().into());
                let loaded = TaskModel::load(task?, &source)?;
                print!("{}", describe_task_model(&loaded));
                return Ok(ExitCode::SUCCESS);
            }
            let reference = ModelRef::parse(&model);
            let resolve = ResolveOptions::new(offline, !global.quiet);
            let opened = stance_model::runtime::open(&reference, &resolve, &gguf.load_options())
                .with_context(|| format!("cannot open model `{reference}`"))?;
            print!("{}", describe(&opened));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn list() -> Result<ExitCode> {
    let manifest = Manifest::builtin()?;
    let offline = ResolveOptions {
        offline: true,
        progress: false,
        hub_cache: None,
    };
    println!("default\t{}", manifest.description);
    match source::resolve_default(&manifest, &offline) {
        Ok(resolved) => {
            let via = resolved
                .via
                .as_ref()
                .map(|v| v.describe())
                .unwrap_or_default();
            println!("  encoder\t{} (via {via})", resolved.origin);
        }
        Err(e) => println!("  encoder\tNOT FOUND: {e}"),
    }
    for task in Task::ALL {
        match TaskModel::load(task, &HeadSource::Default) {
            Ok(model) => println!("  model\t{task}\t{}", model.describe()),
            Err(e) => println!("  model\t{task}\tUNREADABLE: {e}"),
        }
    }
    match source::hub_cache_dir() {
        Ok(cache) => {
            let models = source::cached_hub_models(&cache);
            println!(
                "hub cache\t{} ({} snapshots)",
                cache.display(),
                models.len()
            );
            for m in models {
                let state = match &m.complete {
                    Ok(()) => "complete".to_string(),
                    Err(e) => format!("incomplete: {e}"),
                };
                println!(
                    "  {}@{}\t{}\t{state}",
                    m.repo,
                    m.revision,
                    m.snapshot.display()
                );
            }
        }
        Err(e) => println!("hub cache\tunknown: {e}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// What `stance models info` prints for a task's model folder, one `key  value` line each: what
/// `run.json` records of it, and each fine-tuned model within (layers, budgets, arithmetic).
fn describe_task_model(model: &TaskModel) -> String {
    let info = stance_classify::run::head_info(model);
    let rule = |rules: &std::collections::BTreeMap<String, f64>| {
        rules.iter().map(|(label, value)| format!("{label} {value}")).collect::<Vec<_>>().join(", ")
    };
    let mut lines = vec![
        ("model", info.source.unwrap_or_default()),
        ("task", format!("{}: {}", info.task, info.labels.join(", "))),
        ("reads", reads(model).into()),
    ];
    if !info.thresholds.is_empty() {
        lines.push(("thresholds", rule(&info.thresholds)));
    }
    if !info.class_offsets.is_empty() {
        lines.push(("offsets", rule(&info.class_offsets)));
    }
    if info.thresholds.is_empty() && info.class_offsets.is_empty() {
        lines.push(("decides", "the most probable label".into()));
    }
    for c in model.cross_encoders() {
        let meta = &c.model.meta;
        // The arithmetic classify gives them on this CPU, by the rule it runs them by.
        let layers = stance_model::Compute::Int8.for_fine_tuned_layers(meta.int8_layers).name();
        let mark = if meta.int8_layers { "marked" } else { "not marked" };
        let mut text = format!(
            "{}: top {} of {} layers fine-tuned over the bottom {}; reads at most {} context and {} comment \
             tokens; under --compute int8 its layers run in {layers} ({mark} `int8_layers`)",
            c.describe(),
            meta.top_layers,
            meta.encoder_layers,
            meta.bottom_layers,
            meta.context_tokens,
            meta.comment_tokens,
        );
        if let Some(id) = &meta.shared_layers {
            text.push_str(&format!("; shares its layers with the models marked {id} (int8 only if all are marked)"));
        }
        lines.push(("fine-tuned", text));
    }
    lines.iter().map(|(key, value)| format!("{key:<13} {value}\n")).collect()
}

/// What a task's model reads, in words.
fn reads(model: &TaskModel) -> &'static str {
    match (model.reads(), model.task()) {
        (TaskInput::Comment, _) => "the comment alone",
        (TaskInput::TargetAndComment, _) => "the article's target (its claim, question or title) with the comment",
        (TaskInput::ParentAndComment, Task::Reply) => {
            "the parent comment with the reply (top-level comments get no label)"
        }
        (TaskInput::ParentAndComment, _) => "a reply with the comment it answers, any other comment alone",
    }
}

/// The description printed by `stance models info`, one `key  value` line each.
fn describe(opened: &OpenModel) -> String {
    let OpenModel {
        resolved,
        info,
        model,
    } = opened;
    let config = &model.config;
    let mut lines: Vec<(&str, String)> = Vec::new();
    lines.push(("model", resolved.reference.to_string()));
    let via = resolved
        .via
        .as_ref()
        .map(|v| format!(" (via {})", v.describe()))
        .unwrap_or_default();
    lines.push(("found", format!("{}{via}", resolved.origin)));
    lines.push((
        "architecture",
        format!(
            "{} ({}): {} layers, hidden {}, {} heads, intermediate {}, vocabulary {}",
            config.architecture.as_deref().unwrap_or("unknown"),
            config.model_type,
            config.num_hidden_layers,
            config.hidden_size,
            config.num_attention_heads,
            config.intermediate_size,
            config.vocab_size
        ),
    ));
    match &config.classifier {
        Some(c) => {
            lines.push((
                "task",
                format!("sequence classification, {:?}", c.problem_type),
            ));
            lines.push(("labels", c.id2label.join(", ")));
        }
        None => {
            let norm = if model.settings.normalize {
                ", L2-normalised"
            } else {
                ""
            };
            lines.push((
                "task",
                format!("embedding: {} dims, {} pooling{norm}", config.hidden_size, model.settings.pooling.name()),
            ));
            lines.push(("labels", "none".into()));
        }
    }
    let prefixes = &model.settings.prefixes;
    lines.push((
        "prefixes",
        format!("query {:?}, passage {:?} (conventions from {})", prefixes.query, prefixes.passage, resolved.conventions),
    ));
    lines.push(("max tokens", model.tokenizer.max_tokens().to_string()));
    lines.push((
        "parameters",
        format!(
            "{} ({:.1}M)",
            thousands(info.parameters),
            info.parameters as f64 / 1e6
        ),
    ));
    let types = info.types();
    let compute = if info.quantized_matmul {
        "quantized matmul on the stored blocks, Q8_0 activations"
    } else {
        match info.compute {
            stance_model::Compute::Int8 => {
                "linear layers with int8 activations per block of 32 and the weights' blocks, sums exact per block"
            }
            stance_model::Compute::Bf16 => "linear layers in bfloat16, sums in f32",
            stance_model::Compute::Int16 => {
                "linear layers with int16 activations and the weights' blocks, sums exact per block"
            }
            stance_model::Compute::F32 => "computed in f32",
        }
    };
    lines.push(("dtype", format!("{types} ({compute})")));
    lines.push((
        "weights",
        format!(
            "{} ({}, {} bytes)",
            info.path.display(),
            info.format,
            thousands(info.bytes_on_disk)
        ),
    ));
    lines.push((
        "tokenizer",
        format!(
            "{} ({} pieces)",
            model.tokenizer.path().display(),
            thousands(model.tokenizer.vocab_size() as u64)
        ),
    ));
    let files = &resolved.files;
    let all_files = [
        Some(&files.config),
        Some(&files.tokenizer),
        Some(&files.weights),
        files.tokenizer_config.as_ref(),
        files.sentence_transformers_config.as_ref(),
        files.stance_config.as_ref(),
    ];
    let total: u64 = all_files.iter().flatten().map(|p| file_size(p)).sum();
    lines.push((
        "size on disk",
        format!(
            "{} bytes (weights, tokenizer and configuration files)",
            thousands(total)
        ),
    ));
    // The default heads are built into the binary. They also run on another copy of their
    // encoder (classify and eval use them there), read as stored: only the default model rounds
    // a full-precision copy to the 4-bit weights they were trained on.
    let built_in = || Task::ALL.iter().map(|&task| TaskModel::load(task, &HeadSource::Default));
    let trained_on_this = || {
        stance_heads::model_encoder::ModelEncoder::encoder_id(opened)
            .is_ok_and(|id| built_in().all(|m| m.is_ok_and(|m| m.check_encoder(&id).is_ok())))
    };
    let heads = match resolved.reference {
        ModelRef::Default => built_in()
            .zip(Task::ALL)
            .map(|(model, task)| match model {
                Ok(model) => model.describe(),
                Err(e) => format!("{task}: UNREADABLE ({e})"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ if trained_on_this() => {
            let read = if info.has_blocks() {
                "in 4-bit blocks, as they were trained"
            } else {
                "as stored, in full precision; the default model (this folder in $STANCE_MODEL_DIR, or \
                 the hub's copy in its cache) rounds it to the 4-bit blocks they were trained on"
            };
            format!("the default model's, built in (this is their encoder), read {read}")
        }
        _ => "none (give heads with --head TASK=DIR)".into(),
    };
    lines.push(("heads", heads));
    lines
        .iter()
        .map(|(k, v)| format!("{k:<13} {v}\n"))
        .collect()
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// `117505920` → `117,505,920`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_groups_digits() {
        assert_eq!(super::thousands(117_505_920), "117,505,920");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
    }
}
