//! The entry point: a `config.json` and a weights file in, a ready [`Model`] out.

use crate::arch::bert::Bert;
use crate::arch::deberta::DebertaV2;
use crate::arch::distilbert::DistilBert;
use crate::arch::layers::MatmulMode;
use crate::arch::modernbert::ModernBert;
use crate::config::{Family, ModelConfig};
use crate::error::ModelError;
use crate::weights::{WeightStore, WeightsInfo};
use crate::Model;
use candle_core::Device;
use std::path::Path;

/// What to do with block-quantized (Q4_0/Q8_0) GGUF weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GgufMode {
    /// Dequantize the linear layers at load and run them in f32; keep the word embeddings in
    /// blocks, dequantized row by row as they are looked up. Vectors equal the fully
    /// dequantized path up to float rounding, at a fraction of its memory (the vocabulary is
    /// most of a multilingual model) and several times the speed of `KeepQuantized`.
    #[default]
    DequantizeLinears,
    /// Keep the blocks: linear layers run as candle `QMatMul` (Q8_0 activations), and the word
    /// embeddings are dequantized row by row as they are looked up. Never expands the model.
    /// Only BERT-family and DistilBERT models run quantized; DeBERTa and ModernBERT are
    /// dequantized at load.
    KeepQuantized,
    /// Dequantize every tensor to f32 at load: the exact reference path (about 4× the memory).
    DequantizeF32,
}

/// The arithmetic of the linear layers of BERT-family and DistilBERT encoders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compute {
    /// f32 weights and activations (GGUF blocks expanded at load as `GgufMode` says).
    #[default]
    F32,
    /// int8 activations (per token and block of 32 inputs, at run time) times the weights'
    /// own GGUF Q4_0/Q8_0 codes and block scales (float weights: 8-bit codes per block of 32,
    /// quantized at load), sums exact in i32 per block, on AVX-512 VNNI (`vpdpbusd`) or AVX2.
    /// Overrides `GgufMode::KeepQuantized` for the linear layers.
    Int8,
    /// bfloat16 weights (rounded at load) and activations (at run time), products summed in
    /// f32, on AMX tiles or AVX-512 BF16 where the CPU has them (portable code, much slower,
    /// elsewhere). Overrides `GgufMode::KeepQuantized` for the linear layers.
    Bf16,
    /// int16 activations (per token, at run time) times the weights' own GGUF Q4_0/Q8_0 codes
    /// and block scales (float weights: 12-bit codes per block of 32, quantized at load), sums
    /// exact in i32 per block, on AVX-512 VNNI (`vpdpwssd`) or AVX2. Overrides
    /// `GgufMode::KeepQuantized` for the linear layers.
    Int16,
}

impl Compute {
    /// The fastest arithmetic on this CPU that stays within the accuracy targets (min cosine
    /// ≥ 0.999 to the f32 vectors, ≥ 99.5 % label agreement per task; BENCH.md): bf16 where
    /// the CPU, the OS and the process allow AMX tiles; int8 on CPUs with AVX-512 VNNI (the
    /// fine-tuned layers and attention's products as [`Self::for_fine_tuned_layers`] and
    /// [`bf16_products_pay`] say); f32 elsewhere. Measured (BENCH.md): on an AMD EPYC without
    /// AMX, int8 with the fine-tuned layers in bf16 keeps f32's labels on 99.68–99.91 % of the
    /// 20k bench per task, min cosine 0.99993 on the e5 fixtures, and runs comment texts 1.10×
    /// and all five tasks 1.07× as fast as bf16 (which ran the encoder 1.7× as fast as f32,
    /// int16 a little slower than bf16); int8 with the fine-tuned layers in int8 too kept only
    /// 99.36 % of the sentiment labels there, while the stance and toxicity models' layers in
    /// int8 kept 99.64 and 99.81 % of theirs (the models marked so). On an Intel Xeon without
    /// AMX, where bfloat16 products are slow, int8 with the fine-tuned layers in int16 and
    /// attention in f32 multiply-adds beat int16 (the default there before) with every task
    /// (BENCH.md, "int8 on Intel without AMX"). Neither was measured on CPUs with AVX2 only,
    /// so they keep f32.
    pub fn fastest_accurate() -> Self {
        use crate::arch::bf16::Bf16Kernel;
        use crate::arch::kernels::IntKernel;
        if Bf16Kernel::Amx.supported() {
            Self::Bf16
        } else if IntKernel::Vnni.supported() {
            Self::Int8
        } else {
            Self::F32
        }
    }

    /// The arithmetic of the fine-tuned layers (cross-encoders) that run beside an encoder in
    /// `self`. Their weights are floats, which int8 rounds to 8-bit codes besides the
    /// activations (the encoder's 4-bit GGUF weights are multiplied exactly as stored), and
    /// these layers moved most of int8's label changes: with them in bf16, sentiment kept f32's
    /// label on 99.95 % of the 2k bench instead of 99.55 % (BENCH.md, "int8 with the fine-tuned
    /// layers in bf16", an AMD EPYC). Under int8 they run in bf16 where bfloat16 products pay
    /// ([`bf16_products_pay`]), else in int16, unless `int8_layers`: the model is marked as
    /// keeping its task's labels in int8 (measured; the stance and toxicity models: BENCH.md,
    /// "int8 layers where the labels allow"). Every other arithmetic is kept.
    pub fn for_fine_tuned_layers(self, int8_layers: bool) -> Self {
        match self {
            Self::Int8 if int8_layers => Self::Int8,
            Self::Int8 if bf16_products_pay() => Self::Bf16,
            Self::Int8 => Self::Int16,
            other => other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Int8 => "int8",
            Self::Bf16 => "bf16",
            Self::Int16 => "int16",
        }
    }
}

/// Whether this CPU's bfloat16 dot products beat its f32 multiply-adds, so that int8 runs
/// the fine-tuned layers and attention's products in bf16: AMX tiles, or AMD's AVX-512 BF16
/// (`vdpbf16ps` at 464.7 GOP/s against 932 for `vpdpbusd` on an AMD EPYC). Intel's AVX-512
/// BF16 without tiles runs `vdpbf16ps` at an eighth of `vpdpbusd`'s rate and under f32's (169.9
/// against 1,449.8 GOP/s on a 2-vCPU Xeon, `int8_peak`), so int8 keeps int16 layers and f32
/// multiply-adds there (BENCH.md, "int8 on Intel without AMX").
pub fn bf16_products_pay() -> bool {
    use crate::arch::bf16::Bf16Kernel;
    // Asked by every attention layer's forward; CPUID exits to the hypervisor under a VM.
    static PAY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PAY.get_or_init(|| Bf16Kernel::Amx.supported() || (cpu_is_amd() && Bf16Kernel::Avx512.supported()))
}

/// Whether the CPU's vendor string is AMD's.
#[cfg(target_arch = "x86_64")]
#[allow(unused_unsafe)] // `__cpuid` is a safe function in newer Rust.
fn cpu_is_amd() -> bool {
    // SAFETY: CPUID exists on every x86-64 CPU. Leaf 0 spells the vendor in EBX, EDX, ECX.
    let leaf = unsafe { std::arch::x86_64::__cpuid(0) };
    let vendor: Vec<u8> = [leaf.ebx, leaf.edx, leaf.ecx].iter().flat_map(|r| r.to_le_bytes()).collect();
    vendor == b"AuthenticAMD"
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_is_amd() -> bool {
    false
}

/// The linear layers' mode for weights stored as floats (GGUF blocks in f32 arithmetic have
/// modes of their own: [`GgufMode`]).
impl From<Compute> for MatmulMode {
    fn from(compute: Compute) -> Self {
        match compute {
            Compute::F32 => MatmulMode::F32,
            Compute::Bf16 => MatmulMode::Bf16,
            Compute::Int8 => MatmulMode::Int8,
            Compute::Int16 => MatmulMode::Int16,
        }
    }
}

impl std::fmt::Display for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Compute {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Self::F32),
            "int8" => Ok(Self::Int8),
            "bf16" => Ok(Self::Bf16),
            "int16" => Ok(Self::Int16),
            other => Err(format!("unknown compute `{other}` (expected f32, bf16, int16 or int8)")),
        }
    }
}

/// Options of [`load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadOptions {
    pub gguf: GgufMode,
    pub compute: Compute,
    /// Read a float file's matrices as Q4_0 blocks ([`WeightStore::round_to_q4_0`]): set for
    /// the default model, whose heads were trained on its 4-bit weights.
    pub round_to_q4_0: bool,
}

/// A model ready to run, with what it was loaded from.
pub struct LoadedModel {
    pub config: ModelConfig,
    pub model: Box<dyn Model>,
    pub info: WeightsInfo,
}

/// Loads `config` (a Hugging Face `config.json`) and `weights` (`.safetensors` or `.gguf`).
pub fn load(
    config: &Path,
    weights: &Path,
    device: &Device,
    opts: &LoadOptions,
) -> Result<LoadedModel, ModelError> {
    load_with_config(ModelConfig::from_file(config)?, weights, device, opts)
}

/// [`load`] with a configuration already parsed (e.g. taken from GGUF metadata).
pub fn load_with_config(
    config: ModelConfig,
    weights: &Path,
    device: &Device,
    opts: &LoadOptions,
) -> Result<LoadedModel, ModelError> {
    let mut store = WeightStore::open(weights, device)?;
    if opts.round_to_q4_0 {
        store.round_to_q4_0();
    }
    // int8 multiplies the weights' own 4-bit or 8-bit codes. Float weights (a Hugging Face
    // checkpoint as stored) would be rounded to 8-bit codes as well, which moved the tiny
    // fixtures' logits by 2.6·10⁻² and turned a decision (tests/parity.rs), so they take int16,
    // as a cross-encoder's unmarked layers do where bfloat16 products do not pay.
    let has_blocks = store.has_blocks();
    let compute = match opts.compute {
        Compute::Int8 if !has_blocks => Compute::Int16,
        other => other,
    };
    let mode = match (has_blocks, opts.gguf) {
        _ if compute != Compute::F32 => MatmulMode::from(compute),
        (true, GgufMode::KeepQuantized) => MatmulMode::Quantized,
        (true, GgufMode::DequantizeLinears) => MatmulMode::F32LinearsQuantizedTables,
        _ => MatmulMode::F32,
    };
    let (model, quantized, compute): (Box<dyn Model>, bool, Compute) = match config.family {
        Family::Bert | Family::Roberta => {
            let model = Bert::load(&config, &store, mode)?;
            let (quantized, compute) = (model.uses_quantized_matmul(), model.compute());
            (Box::new(model), quantized, compute)
        }
        Family::DistilBert => {
            let model = DistilBert::load(&config, &store, mode)?;
            let (quantized, compute) = (model.uses_quantized_matmul(), model.compute());
            (Box::new(model), quantized, compute)
        }
        Family::DebertaV2 => (Box::new(DebertaV2::load(&config, &store)?), false, Compute::F32),
        Family::ModernBert => (Box::new(ModernBert::load(&config, &store)?), false, Compute::F32),
    };
    let mut info = store.info(quantized);
    info.compute = compute;
    Ok(LoadedModel {
        config,
        model,
        info,
    })
}
