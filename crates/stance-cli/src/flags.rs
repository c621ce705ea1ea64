//! Flags shared by several subcommands, defined once.

use anyhow::Context;
use clap::Args;
use stance_ingest::{FieldMap, IngestOptions, Ingested, InputFormat, InputSpec};

/// Flags every subcommand accepts.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Print nothing on stderr but errors (no progress bars, no summaries).
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// How to find and run a model; shared by every subcommand that runs one
/// (`embed`, `predict`, `classify`, `train`, `eval`, `bench`).
#[derive(Args, Debug, Clone)]
pub struct ModelFlags {
    /// `default` (the project's encoder and heads), a folder with config.json, tokenizer.json
    /// and model.safetensors or model.gguf, or a hub id `org/name[@revision]`.
    #[arg(long, default_value = "default")]
    pub model: String,
    /// Never touch the network (also set by HF_HUB_OFFLINE=1); missing files are named.
    #[arg(long)]
    pub offline: bool,
    /// CPU threads for the model (default: one per physical core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Most padded tokens per batch (rows × longest row).
    #[arg(long, default_value_t = stance_model::batch::DEFAULT_BATCH_TOKENS, value_parser = positive)]
    pub batch_tokens: usize,
    /// Texts over the model's limit: keep the head, the tail, both (head-tail), or cover the
    /// whole text with windows whose outputs are pooled (window).
    #[arg(long, default_value = "head")]
    pub truncate: stance_model::tokenize::Truncation,
    #[command(flatten)]
    pub gguf: GgufFlags,
}

/// What to do with 4-bit GGUF weights. By default the linear layers are expanded to f32 at
/// load (exact and fast) while the vocabulary table stays 4-bit.
#[derive(Args, Debug, Clone)]
pub struct GgufFlags {
    /// Dequantize every GGUF tensor to f32 at load, vocabulary included (the reference path;
    /// about 300 MB more for the default model).
    #[arg(long, conflicts_with = "quantized_matmul")]
    pub dequantize: bool,
    /// Multiply with the stored 4-bit blocks (least memory, slower on CPU, cosine ≥ 0.999 to
    /// the f32 vectors).
    #[arg(long)]
    pub quantized_matmul: bool,
    /// Arithmetic of the encoder's linear layers: f32; bf16 (bfloat16 operands, f32 sums, on
    /// AMX tiles or AVX-512 BF16 where the CPU has them); int16 (activations per token in 16
    /// bits times the weights' own 4-bit blocks, on AVX-512 VNNI or AVX2); or int8 (activations
    /// in 8 bits per token and block of 32 inputs times the same blocks, on AVX-512 VNNI or
    /// AVX2; float checkpoints' linears take int16; the fine-tuned layers of a cross-encoder
    /// run in int8 too where its `cross_encoder.json` says `"int8_layers": true`, otherwise in
    /// bf16 where bfloat16 products are fast (AMX tiles, AMD's AVX-512 BF16) and in int16
    /// elsewhere; `stance models info DIR` says which). bf16 multiplies attention's operands
    /// in bfloat16 where the CPU can, int8 where they are fast. Default: bf16 where the CPU
    /// has AMX tiles, int8 on other CPUs with AVX-512 VNNI, f32 elsewhere (the fastest within
    /// the accuracy targets; run.json records the choice). Errors and speeds: BENCH.md.
    #[arg(long, conflicts_with_all = ["quantized_matmul", "dequantize"])]
    pub compute: Option<stance_model::Compute>,
}

impl GgufFlags {
    pub fn load_options(&self) -> stance_model::LoadOptions {
        let gguf = if self.dequantize {
            stance_model::GgufMode::DequantizeF32
        } else if self.quantized_matmul {
            stance_model::GgufMode::KeepQuantized
        } else {
            stance_model::GgufMode::DequantizeLinears
        };
        // `--dequantize` is the exact reference and `--quantized-matmul` keeps the 4-bit
        // blocks: both mean f32 arithmetic (`--compute` conflicts with them).
        let compute = match (self.compute, gguf) {
            (Some(compute), _) => compute,
            (None, stance_model::GgufMode::DequantizeLinears) => stance_model::Compute::fastest_accurate(),
            (None, _) => stance_model::Compute::F32,
        };
        stance_model::LoadOptions { gguf, compute, ..Default::default() }
    }
}

impl ModelFlags {
    pub fn batch(&self) -> stance_model::batch::BatchOptions {
        stance_model::batch::BatchOptions {
            batch_tokens: self.batch_tokens,
        }
    }

    /// Sizes the process's thread pools to `--threads`. They are sized once, by whatever
    /// parallel work runs first (ingest's language detection too), so commands call this
    /// before reading their input; calling it again with the same count is harmless.
    pub fn bound_threads(&self) -> anyhow::Result<()> {
        if let Some(n) = self.threads {
            stance_model::threads::limit_threads(n as usize)?;
        }
        Ok(())
    }

    /// For the commands that train or measure models (`train`, `tune`, `calibrate`, `eval`):
    /// f32 arithmetic unless `--compute` says otherwise, so that what they write and print is
    /// the same on every CPU (elsewhere the default depends on the CPU).
    pub fn use_reference_arithmetic(&mut self) {
        self.gguf.compute.get_or_insert(stance_model::Compute::F32);
    }

    /// The model these flags name, and how to run it.
    pub fn choice(&self, global: &Global) -> stance_classify::ModelChoice {
        stance_classify::ModelChoice {
            reference: stance_model::source::ModelRef::parse(&self.model),
            resolve: stance_model::source::ResolveOptions::new(self.offline, !global.quiet),
            load: self.gguf.load_options(),
            truncation: self.truncate,
            batch: self.batch(),
        }
    }

    /// Bounds the threads, then finds and loads the model.
    pub fn open(&self, global: &Global) -> anyhow::Result<stance_model::runtime::OpenModel> {
        self.bound_threads()?;
        let choice = self.choice(global);
        stance_model::runtime::open(&choice.reference, &choice.resolve, &choice.load)
            .with_context(|| format!("cannot open model `{}`", choice.reference))
    }
}

/// A count of at least 1.
fn positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{text}` is not a whole number of at least 1")),
    }
}

/// Exit code when `--strict` finds rejected records (outputs are still written).
pub const STRICT_FAILURE: u8 = 1;

/// How input archives are read; shared by `ingest` and `classify`. (The format override is
/// not here: `ingest` calls it `--format`, while in `classify` that flag names the output.)
#[derive(Args, Debug, Clone)]
pub struct InputFlags {
    /// Input files; `-` reads standard input.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// Take a field from another column: `text=body`, `comment.author=user`, `article.title=headline`.
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    pub map: Vec<String>,

    /// Exit with status 1 if any record was rejected with an error.
    #[arg(long)]
    pub strict: bool,

    /// Replace invalid UTF-8 with U+FFFD (with a warning) instead of rejecting the record.
    #[arg(long)]
    pub lossy_utf8: bool,
}

impl InputFlags {
    /// The inputs, each read as `format` when given (else detected).
    pub fn specs(&self, format: Option<InputFormat>) -> Vec<InputSpec> {
        self.inputs.iter().map(|i| InputSpec::parse(i).with_format(format)).collect()
    }

    pub fn options(&self) -> anyhow::Result<IngestOptions> {
        Ok(IngestOptions {
            field_map: FieldMap::parse(&self.map)?,
            lossy_utf8: self.lossy_utf8,
            ..IngestOptions::default()
        })
    }

    /// Reads, validates and links every input, each read as `format` when given.
    pub fn read(&self, format: Option<InputFormat>) -> anyhow::Result<Ingested> {
        stance_ingest::read_inputs(&self.specs(format), &self.options()?).context("ingest failed")
    }
}
