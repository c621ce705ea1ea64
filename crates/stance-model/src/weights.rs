//! Weight files: safetensors (F32/F16/BF16, computed in f32) and GGUF (F32/F16/BF16/Q8_0/Q4_0),
//! both memory-mapped.
//!
//! Every tensor is checked before use: present, of the shape the configuration implies, and free
//! of NaN/inf (checked on the stored bytes, so a Q4_0 matrix is never expanded just to check
//! it). Pickle checkpoints (`.bin`, `.pt`) are refused outright: unpickling runs code.
//!
//! A store can also round a float file's matrices to Q4_0 blocks as they are read
//! ([`WeightStore::round_to_q4_0`]): the default model's heads were trained on e5's 4-bit
//! weights, and the hub's full-precision copy, rounded so, gives them the same vectors.

use crate::error::ModelError;
use candle_core::quantized::{ggml_file, gguf_file, GgmlDType, QTensor};
use candle_core::{DType, Device, Shape, Tensor};
use memmap2::Mmap;
use safetensors::tensor::{Dtype as StDtype, Metadata, SafeTensorError, SafeTensors};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The container format of a weights file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsFormat {
    Safetensors,
    Gguf,
}

impl fmt::Display for WeightsFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Safetensors => "safetensors",
            Self::Gguf => "GGUF",
        })
    }
}

/// How a tensor is stored on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TensorType {
    F32,
    F16,
    BF16,
    /// GGML blocks of 32 weights: an f16 scale and 32 signed bytes.
    Q8_0,
    /// GGML blocks of 32 weights: an f16 scale and 32 4-bit codes.
    Q4_0,
}

impl TensorType {
    /// Whether the tensor is stored as GGML blocks (and so can feed a quantized matmul).
    pub fn is_block_quantized(self) -> bool {
        matches!(self, Self::Q8_0 | Self::Q4_0)
    }

    /// The candle type of a float tensor's stored values; `None` for blocks.
    fn float_dtype(self) -> Option<DType> {
        match self {
            Self::F32 => Some(DType::F32),
            Self::F16 => Some(DType::F16),
            Self::BF16 => Some(DType::BF16),
            Self::Q8_0 | Self::Q4_0 => None,
        }
    }

    fn ggml(self) -> GgmlDType {
        match self {
            Self::F32 => GgmlDType::F32,
            Self::F16 => GgmlDType::F16,
            Self::BF16 => GgmlDType::BF16,
            Self::Q8_0 => GgmlDType::Q8_0,
            Self::Q4_0 => GgmlDType::Q4_0,
        }
    }

    /// (elements per block, bytes per block).
    fn block_layout(self) -> (usize, usize) {
        match self {
            Self::F32 => (1, 4),
            Self::F16 | Self::BF16 => (1, 2),
            Self::Q8_0 => (32, 34),
            Self::Q4_0 => (32, 18),
        }
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::Q8_0 => "Q8_0",
            Self::Q4_0 => "Q4_0",
        })
    }
}

/// What a weights file holds, for `stance models` and logs.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightsInfo {
    pub path: PathBuf,
    pub format: WeightsFormat,
    /// Number of weights over all floating-point tensors of the file.
    pub parameters: u64,
    pub bytes_on_disk: u64,
    /// How many tensors are stored in each type, most frequent first.
    pub tensor_types: Vec<(TensorType, usize)>,
    /// True when the linear layers run as quantized matmuls on the stored blocks (activations
    /// quantized to Q8_0 per block, as ggml does); false when everything is computed in f32.
    pub quantized_matmul: bool,
    /// The linear layers' arithmetic: `Int8` when they run on int8 kernels.
    pub compute: crate::load::Compute,
    /// How many float tensors were rounded to Q4_0 blocks at load.
    pub rounded_to_q4_0: usize,
}

impl WeightsInfo {
    /// The stored types, such as `F32 ×124 + Q4_0 ×73` or `F32 ×197 (73 rounded to Q4_0 at load)`.
    pub fn types(&self) -> String {
        let types = self.tensor_types.iter().map(|(t, n)| format!("{t} ×{n}")).collect::<Vec<_>>().join(" + ");
        match self.rounded_to_q4_0 {
            0 => types,
            n => format!("{types} ({n} rounded to Q4_0 at load)"),
        }
    }

    /// Whether any tensor is read as GGML blocks (stored so, or rounded at load).
    pub fn has_blocks(&self) -> bool {
        self.rounded_to_q4_0 > 0 || self.tensor_types.iter().any(|(t, _)| t.is_block_quantized())
    }

    /// One line such as `GGUF, F32 ×124 + Q4_0 ×73, 117.5M parameters, 67.0 MB, quantized matmul`.
    pub fn description(&self) -> String {
        format!(
            "{}, {}, {:.1}M parameters, {:.1} MB, {}",
            self.format,
            self.types(),
            self.parameters as f64 / 1e6,
            self.bytes_on_disk as f64 / 1e6,
            if self.quantized_matmul {
                "quantized matmul"
            } else {
                match self.compute {
                    crate::load::Compute::F32 => "f32 compute",
                    crate::load::Compute::Int8 => "int8 compute",
                    crate::load::Compute::Bf16 => "bf16 compute",
                    crate::load::Compute::Int16 => "int16 compute",
                }
            }
        )
    }
}

/// Name, type and shape of one stored tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorMeta {
    pub dtype: TensorType,
    pub shape: Vec<usize>,
}

enum Source {
    Safetensors {
        mmap: Mmap,
        header_len: usize,
        metadata: Metadata,
    },
    Gguf {
        mmap: Mmap,
        content: gguf_file::Content,
    },
}

/// An opened, validated weights file. Tensors are read on demand from the memory map.
pub struct WeightStore {
    path: PathBuf,
    device: Device,
    source: Source,
    bytes_on_disk: u64,
    tensors: BTreeMap<String, TensorMeta>,
    /// Float tensors read as Q4_0 blocks (see [`WeightStore::round_to_q4_0`]).
    rounded: std::collections::BTreeSet<String>,
}

const PICKLE_EXTENSIONS: [&str; 6] = ["bin", "pt", "pth", "pkl", "pickle", "ckpt"];

impl WeightStore {
    /// Opens a `.safetensors` or `.gguf` file (recognised by content, not by name).
    pub fn open(path: &Path, device: &Device) -> Result<Self, ModelError> {
        let file_error = |message: String| ModelError::File {
            path: path.to_path_buf(),
            message,
        };
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if let Some(ext) = extension.as_deref().filter(|e| PICKLE_EXTENSIONS.contains(e)) {
            return Err(file_error(pickle_refusal(ext)));
        }
        let file = std::fs::File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => file_error("weights file not found".into()),
            _ => file_error(format!("cannot open the weights file: {e}")),
        })?;
        let file_meta = file
            .metadata()
            .map_err(|e| file_error(format!("cannot read the weights file: {e}")))?;
        if file_meta.is_dir() {
            return Err(file_error(
                "is a directory, expected a .safetensors or .gguf file".into(),
            ));
        }
        let bytes_on_disk = file_meta.len();
        if bytes_on_disk == 0 {
            return Err(file_error("truncated: the weights file is empty".into()));
        }
        // SAFETY: the map is read-only; like every mmap-based loader we rely on the file not
        // being modified while the model is loaded.
        let mmap = unsafe { Mmap::map(&file) }
            .map_err(|e| file_error(format!("cannot memory-map the weights file: {e}")))?;
        let looks_like_safetensors = mmap.get(8) == Some(&b'{');
        let looks_like_pickle = mmap.starts_with(b"PK\x03\x04")
            || (mmap.len() > 1 && mmap[0] == 0x80 && (2..=5).contains(&mmap[1]));
        let source = if mmap.starts_with(b"GGUF") || extension.as_deref() == Some("gguf") {
            open_gguf(path, mmap)?
        } else if looks_like_pickle && !looks_like_safetensors {
            return Err(file_error(pickle_refusal("zip/pickle content")));
        } else {
            open_safetensors(path, mmap)?
        };
        let tensors = match &source {
            Source::Safetensors { metadata, .. } => safetensors_index(path, metadata)?,
            Source::Gguf { content, mmap } => gguf_index(path, content, mmap.len() as u64)?,
        };
        Ok(Self {
            path: path.to_path_buf(),
            device: device.clone(),
            source,
            bytes_on_disk,
            tensors,
            rounded: Default::default(),
        })
    }

    /// From now on, reads every float matrix whose rows are whole blocks of 32 as Q4_0 blocks
    /// (GGML's reference rounding: per block, the scale is the largest-magnitude weight over
    /// -8), and [`Self::f32_tensor`] returns those blocks' values; the position and token-type
    /// tables stay as stored, as in e5's GGUF, where they are f32. Returns how many tensors are
    /// rounded. Why: the default model's heads were trained on the 4-bit weights of
    /// `../shared`'s GGUF, which hold the hub's full-precision weights rounded exactly so
    /// (every block has a weight at code 0, the mark of that rounding); rounding the hub's copy
    /// at load gives the heads the vectors they were trained on; on a stand-in for the hub's
    /// weights, unrounded ones moved the shipped models' test scores by up to four points
    /// (models/EVAL.md, "the heads on full-precision e5 weights").
    pub fn round_to_q4_0(&mut self) -> usize {
        let (elements, _) = TensorType::Q4_0.block_layout();
        for (name, meta) in &self.tensors {
            let matrix = meta.shape.len() == 2 && meta.shape[1] % elements == 0;
            let table_kept = name.contains("position_embeddings") || name.contains("token_type_embeddings");
            if matrix && !meta.dtype.is_block_quantized() && !table_kept {
                self.rounded.insert(name.clone());
            }
        }
        self.rounded.len()
    }

    /// Whether any tensor is read as GGML blocks (stored so, or rounded at load).
    pub fn has_blocks(&self) -> bool {
        self.info(false).has_blocks()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn format(&self) -> WeightsFormat {
        match self.source {
            Source::Safetensors { .. } => WeightsFormat::Safetensors,
            Source::Gguf { .. } => WeightsFormat::Gguf,
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    pub fn meta(&self, name: &str) -> Option<&TensorMeta> {
        self.tensors.get(name)
    }

    /// Tensor names in sorted order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Summary of the file; `quantized_matmul` is filled in by the loader.
    pub fn info(&self, quantized_matmul: bool) -> WeightsInfo {
        let mut counts: BTreeMap<TensorType, usize> = BTreeMap::new();
        let mut parameters = 0u64;
        for meta in self.tensors.values() {
            *counts.entry(meta.dtype).or_default() += 1;
            parameters += meta.shape.iter().product::<usize>() as u64;
        }
        let mut tensor_types: Vec<_> = counts.into_iter().collect();
        tensor_types.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        WeightsInfo {
            path: self.path.clone(),
            format: self.format(),
            parameters,
            bytes_on_disk: self.bytes_on_disk,
            tensor_types,
            quantized_matmul,
            compute: crate::load::Compute::F32,
            rounded_to_q4_0: self.rounded.len(),
        }
    }

    /// The metadata of `name`, checked against the shape the configuration implies.
    pub fn checked_meta(&self, name: &str, shape: &[usize]) -> Result<&TensorMeta, ModelError> {
        let meta = self.tensors.get(name).ok_or_else(|| self.missing(name))?;
        if meta.shape != shape {
            return Err(ModelError::ShapeMismatch {
                path: self.path.clone(),
                name: name.to_owned(),
                expected: shape.to_vec(),
                found: meta.shape.clone(),
            });
        }
        Ok(meta)
    }

    /// Tensor `name` in f32 on the store's device (quantized blocks are dequantized).
    pub fn f32_tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor, ModelError> {
        let meta = self.checked_meta(name, shape)?.clone();
        if self.rounded.contains(name) {
            return Ok(self.rounded_blocks(name, &meta)?.dequantize(&self.device)?);
        }
        self.load_f32(name, &meta)
    }

    /// Tensor `name` as GGML blocks when it is stored that way (GGUF Q8_0/Q4_0) or rounded
    /// at load, `None` otherwise. Nothing is dequantized.
    pub fn block_tensor(&self, name: &str, shape: &[usize]) -> Result<Option<QTensor>, ModelError> {
        let meta = self.checked_meta(name, shape)?.clone();
        if self.rounded.contains(name) {
            return self.rounded_blocks(name, &meta).map(Some);
        }
        if !meta.dtype.is_block_quantized() {
            return Ok(None);
        }
        self.load_qtensor(name, &meta).map(Some)
    }

    /// A float matrix rounded to Q4_0 blocks (candle's `BlockQ4_0::from_float`, GGML's
    /// reference rounding), a slice of rows at a time, each slice's pages of the memory map
    /// handed back once read: an f32 copy of the 250k-row vocabulary, in the map or in a
    /// buffer, would add 384 MB to the peak for a table that ends as 54 MB of blocks.
    fn rounded_blocks(&self, name: &str, meta: &TensorMeta) -> Result<QTensor, ModelError> {
        const ROWS_AT_A_TIME: usize = 4096;
        let dtype = meta.dtype.float_dtype().expect("only float tensors are marked for rounding");
        let bytes = self.raw_bytes(name)?;
        let (rows, cols) = (meta.shape[0], meta.shape[1]);
        let row_bytes = cols * meta.dtype.block_layout().1;
        let (elements, block_bytes) = TensorType::Q4_0.block_layout();
        let mut blocks = Vec::with_capacity(rows * cols / elements * block_bytes);
        for start in (0..rows).step_by(ROWS_AT_A_TIME) {
            let n = ROWS_AT_A_TIME.min(rows - start);
            let slice = &bytes[start * row_bytes..(start + n) * row_bytes];
            self.check_finite(name, meta, slice)?;
            let values = Tensor::from_raw_buffer(slice, dtype, &[n, cols], &self.device)?.to_dtype(DType::F32)?;
            blocks.extend_from_slice(&QTensor::quantize(&values, GgmlDType::Q4_0)?.data()?);
            self.release_pages(slice);
        }
        Ok(ggml_file::qtensor_from_ggml(GgmlDType::Q4_0, &blocks, meta.shape.clone(), &self.device)?)
    }

    /// Hands back the memory map's pages under `bytes`, which have been read (only a hint:
    /// where it fails, the pages go when the store is dropped).
    fn release_pages(&self, bytes: &[u8]) {
        let mmap = match &self.source {
            Source::Safetensors { mmap, .. } | Source::Gguf { mmap, .. } => mmap,
        };
        let offset = bytes.as_ptr() as usize - mmap.as_ptr() as usize;
        // SAFETY: the map is a read-only mapping of a file that, as for the map itself, is not
        // modified while the model loads. MADV_DONTNEED only drops this process's copies of the
        // pages: a later read of them (nothing here reads them again) faults the same bytes
        // back in from the file, so no reference into the map ever sees other contents.
        #[cfg(unix)]
        let _ = unsafe { mmap.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, bytes.len()) };
    }

    fn missing(&self, name: &str) -> ModelError {
        // A different top-level prefix is the usual cause (a bare encoder given to a
        // classifier config, or the other way round).
        let prefixes: std::collections::BTreeSet<&str> = self
            .tensors
            .keys()
            .filter_map(|n| n.split('.').next())
            .collect();
        ModelError::MissingTensor {
            path: self.path.clone(),
            name: name.to_owned(),
            hint: format!(
                "; the file holds {} tensors under {}",
                self.tensors.len(),
                prefixes
                    .iter()
                    .map(|p| format!("`{p}.`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn raw_bytes(&self, name: &str) -> Result<&[u8], ModelError> {
        match &self.source {
            Source::Safetensors {
                mmap,
                header_len,
                metadata,
            } => {
                let info = metadata.info(name).ok_or_else(|| self.missing(name))?;
                let (start, end) = info.data_offsets;
                let base = 8 + header_len;
                // Offsets were validated against the file length when it was opened.
                mmap.get(base + start..base + end).ok_or_else(|| ModelError::File {
                    path: self.path.clone(),
                    message: format!("truncated: tensor `{name}` lies past the end of the file"),
                })
            }
            Source::Gguf { mmap, content } => {
                let info = content
                    .tensor_infos
                    .get(name)
                    .ok_or_else(|| self.missing(name))?;
                let meta = &self.tensors[name];
                let start = (content.tensor_data_offset + info.offset) as usize;
                let len = stored_len(meta);
                mmap.get(start..start + len).ok_or_else(|| ModelError::File {
                    path: self.path.clone(),
                    message: format!("truncated: tensor `{name}` lies past the end of the file"),
                })
            }
        }
    }

    fn check_finite(&self, name: &str, meta: &TensorMeta, bytes: &[u8]) -> Result<(), ModelError> {
        if all_finite(meta.dtype, bytes) {
            Ok(())
        } else {
            Err(ModelError::NonFinite {
                path: self.path.clone(),
                name: name.to_owned(),
            })
        }
    }

    fn load_f32(&self, name: &str, meta: &TensorMeta) -> Result<Tensor, ModelError> {
        let bytes = self.raw_bytes(name)?;
        self.check_finite(name, meta, bytes)?;
        let tensor = match meta.dtype.float_dtype() {
            Some(dtype) => Tensor::from_raw_buffer(bytes, dtype, &meta.shape, &self.device)?.to_dtype(DType::F32)?,
            None => self.qtensor_from_bytes(meta, bytes)?.dequantize(&self.device)?,
        };
        self.release_pages(bytes);
        Ok(tensor)
    }

    /// The tensor's blocks, copied out of the map, whose pages are then handed back: the
    /// vocabulary's 54 MB of blocks were resident twice while the model loaded, in the map and
    /// in the copy.
    fn load_qtensor(&self, name: &str, meta: &TensorMeta) -> Result<QTensor, ModelError> {
        let bytes = self.raw_bytes(name)?;
        self.check_finite(name, meta, bytes)?;
        let qtensor = self.qtensor_from_bytes(meta, bytes)?;
        self.release_pages(bytes);
        Ok(qtensor)
    }

    fn qtensor_from_bytes(&self, meta: &TensorMeta, bytes: &[u8]) -> Result<QTensor, ModelError> {
        // candle views the bytes as blocks in place; the map is page-aligned and GGUF aligns
        // tensor data, but copy to an aligned buffer rather than trust a file on that.
        let qtensor = if (bytes.as_ptr() as usize) % 8 == 0 {
            ggml_file::qtensor_from_ggml(
                meta.dtype.ggml(),
                bytes,
                meta.shape.clone(),
                &self.device,
            )?
        } else {
            let mut aligned = vec![0u64; bytes.len().div_ceil(8)];
            let aligned_bytes = &mut bytemuck_bytes(&mut aligned)[..bytes.len()];
            aligned_bytes.copy_from_slice(bytes);
            ggml_file::qtensor_from_ggml(
                meta.dtype.ggml(),
                aligned_bytes,
                meta.shape.clone(),
                &self.device,
            )?
        };
        Ok(qtensor)
    }
}

/// The bytes of a `u64` buffer (always 8-aligned).
fn bytemuck_bytes(words: &mut [u64]) -> &mut [u8] {
    // SAFETY: u8 has no alignment or validity requirements and the length covers the buffer.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr() as *mut u8, words.len() * 8) }
}

fn pickle_refusal(what: &str) -> String {
    format!(
        "refusing to load a PyTorch pickle checkpoint ({what}): unpickling can run arbitrary \
         code. Use the model's `model.safetensors` (or convert the checkpoint to safetensors)"
    )
}

fn stored_len(meta: &TensorMeta) -> usize {
    let (per_block, block_bytes) = meta.dtype.block_layout();
    meta.shape.iter().product::<usize>() / per_block * block_bytes
}

/// True when no stored value (or block scale) is NaN or infinite.
fn all_finite(dtype: TensorType, bytes: &[u8]) -> bool {
    // f16 and bf16: the exponent field all ones means inf or NaN.
    let f16_ok = |b: &[u8]| u16::from_le_bytes([b[0], b[1]]) & 0x7C00 != 0x7C00;
    match dtype {
        TensorType::F32 => bytes
            .chunks_exact(4)
            .all(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite()),
        TensorType::F16 => bytes.chunks_exact(2).all(f16_ok),
        TensorType::BF16 => bytes
            .chunks_exact(2)
            .all(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7F80 != 0x7F80),
        // Block codes are integers; only the f16 scale at the head of each block can be bad.
        TensorType::Q8_0 => bytes.chunks_exact(34).all(f16_ok),
        TensorType::Q4_0 => bytes.chunks_exact(18).all(f16_ok),
    }
}

fn open_safetensors(path: &Path, mmap: Mmap) -> Result<Source, ModelError> {
    let file_error = |message: String| ModelError::File {
        path: path.to_path_buf(),
        message,
    };
    if mmap.len() < 8 {
        return Err(file_error(format!(
            "truncated: {} bytes, shorter than the 8-byte safetensors header length",
            mmap.len()
        )));
    }
    let (header_len, metadata) = match SafeTensors::read_metadata(&mmap) {
        Ok(parsed) => parsed,
        Err(SafeTensorError::InvalidHeaderLength) => {
            let declared = u64::from_le_bytes(mmap[..8].try_into().unwrap_or([0; 8]));
            return Err(file_error(format!(
                "truncated or not a safetensors file: the header claims {declared} bytes but \
                 the file has {}",
                mmap.len()
            )));
        }
        Err(SafeTensorError::MetadataIncompleteBuffer) => {
            return Err(file_error(truncation_message(&mmap)));
        }
        Err(e) => return Err(file_error(format!("not a valid safetensors file: {e}"))),
    };
    Ok(Source::Safetensors {
        mmap,
        header_len,
        metadata,
    })
}

/// Explains a data section that does not match the header: how much it declares and holds.
fn truncation_message(mmap: &[u8]) -> String {
    let header_len = u64::from_le_bytes(mmap[..8].try_into().unwrap_or([0; 8])) as usize;
    let declared = mmap
        .get(8..8 + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok())
        .and_then(|h| {
            h.as_object().map(|o| {
                o.values()
                    .filter_map(|t| t.get("data_offsets")?.get(1)?.as_u64())
                    .max()
                    .unwrap_or(0)
            })
        });
    let held = mmap.len().saturating_sub(8 + header_len);
    match declared {
        Some(d) if (d as usize) > held => format!(
            "truncated: the header declares {d} bytes of tensor data but the file holds {held}"
        ),
        Some(d) => format!(
            "corrupt: the header declares {d} bytes of tensor data but the file holds {held}"
        ),
        None => "truncated or corrupt: tensor data does not match the header".into(),
    }
}

fn safetensors_index(
    path: &Path,
    metadata: &Metadata,
) -> Result<BTreeMap<String, TensorMeta>, ModelError> {
    let mut index = BTreeMap::new();
    for (name, info) in metadata.tensors() {
        let dtype = match info.dtype {
            StDtype::F32 => TensorType::F32,
            StDtype::F16 => TensorType::F16,
            StDtype::BF16 => TensorType::BF16,
            // Integer buffers (e.g. old BERT checkpoints' `position_ids`) are not weights.
            StDtype::BOOL
            | StDtype::U8
            | StDtype::I8
            | StDtype::I16
            | StDtype::U16
            | StDtype::I32
            | StDtype::U32
            | StDtype::I64
            | StDtype::U64 => continue,
            other => {
                return Err(ModelError::Unsupported {
                    path: path.to_path_buf(),
                    what: format!(
                        "tensor type {other:?} for `{name}` (supported: F32, F16, BF16)"
                    ),
                })
            }
        };
        index.insert(
            name,
            TensorMeta {
                dtype,
                shape: info.shape.clone(),
            },
        );
    }
    Ok(index)
}

fn open_gguf(path: &Path, mmap: Mmap) -> Result<Source, ModelError> {
    let mut cursor = std::io::Cursor::new(&mmap[..]);
    let content = gguf_file::Content::read(&mut cursor).map_err(|e| ModelError::File {
        path: path.to_path_buf(),
        message: format!("truncated or not a valid GGUF file: {e}"),
    })?;
    Ok(Source::Gguf { mmap, content })
}

fn gguf_index(
    path: &Path,
    content: &gguf_file::Content,
    file_len: u64,
) -> Result<BTreeMap<String, TensorMeta>, ModelError> {
    let mut index = BTreeMap::new();
    for (name, info) in &content.tensor_infos {
        let dtype = match info.ggml_dtype {
            GgmlDType::F32 => TensorType::F32,
            GgmlDType::F16 => TensorType::F16,
            GgmlDType::BF16 => TensorType::BF16,
            GgmlDType::Q8_0 => TensorType::Q8_0,
            GgmlDType::Q4_0 => TensorType::Q4_0,
            other => {
                return Err(ModelError::Unsupported {
                    path: path.to_path_buf(),
                    what: format!(
                        "GGUF tensor type {other:?} for `{name}` (supported: F32, F16, BF16, \
                         Q8_0, Q4_0)"
                    ),
                })
            }
        };
        let meta = TensorMeta {
            dtype,
            shape: info.shape.dims().to_vec(),
        };
        let elements: usize = meta.shape.iter().product();
        if elements % dtype.block_layout().0 != 0 {
            return Err(ModelError::File {
                path: path.to_path_buf(),
                message: format!(
                    "corrupt: tensor `{name}` has {elements} elements, not a whole number of \
                     {dtype} blocks"
                ),
            });
        }
        let end = content.tensor_data_offset + info.offset + stored_len(&meta) as u64;
        if end > file_len {
            return Err(ModelError::File {
                path: path.to_path_buf(),
                message: format!(
                    "truncated: tensor `{name}` ends at byte {end} but the file has {file_len} bytes"
                ),
            });
        }
        index.insert(name.clone(), meta);
    }
    Ok(index)
}

/// Serves a [`WeightStore`] to candle-transformers' `VarBuilder`, so that models built by
/// candle get the same checks (shape, NaN/inf, missing tensor) with this crate's errors.
///
/// candle only sees a generic error; the latest precise [`ModelError`] is kept for the loader to
/// report instead (see [`CheckedBackend::take_error`]). The latest, not the first: candle probes
/// optional tensors and ignores their absence (ModernBERT's layer-0 `attn_norm`), so an earlier
/// error may be one that did not stop the load.
pub(crate) struct CheckedBackend<'a> {
    store: &'a WeightStore,
    /// `(requested, stored)`: a name prefix candle asks for and the one the file uses.
    rename: Option<(String, String)>,
    last_error: Arc<Mutex<Option<ModelError>>>,
}

/// Where a [`CheckedBackend`] leaves the latest error it met.
pub(crate) type ErrorSlot = Arc<Mutex<Option<ModelError>>>;

impl<'a> CheckedBackend<'a> {
    pub(crate) fn new(store: &'a WeightStore, rename: Option<(String, String)>) -> (Self, ErrorSlot) {
        let slot = Arc::new(Mutex::new(None));
        (
            Self {
                store,
                rename,
                last_error: slot.clone(),
            },
            slot,
        )
    }

    /// The precise error recorded in `slot`, or candle's own when none was recorded.
    pub(crate) fn take_error(slot: &ErrorSlot, error: candle_core::Error) -> ModelError {
        slot.lock()
            .ok()
            .and_then(|mut s| s.take())
            .unwrap_or(ModelError::Candle(error))
    }

    fn stored_name(&self, name: &str) -> String {
        match &self.rename {
            Some((requested, stored)) => match name.strip_prefix(requested.as_str()) {
                Some(rest) => format!("{stored}{rest}"),
                None => name.to_owned(),
            },
            None => name.to_owned(),
        }
    }

    fn record(&self, error: ModelError) -> candle_core::Error {
        let message = error.to_string();
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = Some(error);
        }
        candle_core::Error::Msg(message)
    }
}

impl candle_nn::var_builder::SimpleBackend for CheckedBackend<'_> {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        _init: candle_nn::Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        self.store
            .f32_tensor(&self.stored_name(name), shape.dims())
            .and_then(|t| Ok(t.to_dtype(dtype)?.to_device(device)?))
            .map_err(|e| self.record(e))
    }

    fn get_unchecked(&self, name: &str, dtype: DType, device: &Device) -> candle_core::Result<Tensor> {
        let stored = self.stored_name(name);
        let shape = match self.store.meta(&stored) {
            Some(meta) => meta.shape.clone(),
            None => return Err(self.record(self.store.missing(&stored))),
        };
        self.get(Shape::from(shape), name, candle_nn::Init::Const(0.), dtype, device)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.store.contains(&self.stored_name(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finiteness_is_read_from_the_stored_bytes() {
        let f32_bytes: Vec<u8> = [1.0f32, -2.5, f32::NAN]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert!(all_finite(TensorType::F32, &f32_bytes[..8]));
        assert!(!all_finite(TensorType::F32, &f32_bytes));
        // f16 1.0 = 0x3C00, +inf = 0x7C00; bf16 NaN = 0x7FC0.
        assert!(all_finite(TensorType::F16, &0x3C00u16.to_le_bytes()));
        assert!(!all_finite(TensorType::F16, &0x7C00u16.to_le_bytes()));
        assert!(!all_finite(TensorType::BF16, &0x7FC0u16.to_le_bytes()));
        let mut block = vec![0u8; 18];
        block[..2].copy_from_slice(&0x3C00u16.to_le_bytes());
        assert!(all_finite(TensorType::Q4_0, &block));
        block[..2].copy_from_slice(&0x7E00u16.to_le_bytes());
        assert!(!all_finite(TensorType::Q4_0, &block));
    }

    #[test]
    fn pickle_files_are_refused_by_name() {
        let err = WeightStore::open(Path::new("/nonexistent/pytorch_model.bin"), &Device::Cpu)
            .err()
            .expect("refused");
        let message = err.to_string();
        assert!(message.contains("pickle"), "{message}");
        assert!(message.starts_with("/nonexistent/pytorch_model.bin"), "{message}");
    }
}
