//! GGUF Q4_0 and Q8_0 weights read as stored: per block of 32 inputs, an f16 scale and 32 small
//! integer codes, `w = scale · code`. The integer kernels (`super::int16`, `super::int8`) take
//! them as they are, so the default 4-bit encoder's weights reach them exactly.

use candle_core::quantized::{GgmlDType, QTensor};

/// Inputs per GGUF block.
pub const BLOCK: usize = 32;

/// Calls `f(row, block, scale, codes)` for every block of a Q4_0 or Q8_0 weight `[out_dim,
/// in_dim]`, rows in order and blocks in order within a row; returns `false` (calling nothing)
/// for other block types, which the caller expands to floats.
pub fn for_each_block(
    weight: &QTensor,
    mut f: impl FnMut(usize, usize, f32, &[i8; BLOCK]),
) -> candle_core::Result<bool> {
    let (out_dim, in_dim) = weight.shape().dims2()?;
    // Bytes per block: the f16 scale, then 16 bytes of nibbles or 32 signed bytes.
    let block_bytes = match weight.dtype() {
        GgmlDType::Q4_0 => 2 + BLOCK / 2,
        GgmlDType::Q8_0 => 2 + BLOCK,
        _ => return Ok(false),
    };
    if in_dim % BLOCK != 0 {
        candle_core::bail!("{:?} weight of {in_dim} inputs: not whole blocks of {BLOCK}", weight.dtype());
    }
    let data = weight.data()?;
    let blocks_per_row = in_dim / BLOCK;
    if data.len() != out_dim * blocks_per_row * block_bytes {
        candle_core::bail!("{:?} weight [{out_dim}, {in_dim}]: {} bytes of blocks", weight.dtype(), data.len());
    }
    let mut codes = [0i8; BLOCK];
    for (i, block) in data.chunks_exact(block_bytes).enumerate() {
        let scale = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
        let payload = &block[2..];
        if weight.dtype() == GgmlDType::Q4_0 {
            // ggml's order: byte j holds input j in its low nibble and input j + 16 in its high
            // one, each stored with an offset of 8.
            for (j, &byte) in payload.iter().enumerate() {
                codes[j] = (byte & 0x0F) as i8 - 8;
                codes[j + BLOCK / 2] = (byte >> 4) as i8 - 8;
            }
        } else {
            for (c, &byte) in codes.iter_mut().zip(payload) {
                *c = byte as i8;
            }
        }
        f(i / blocks_per_row, i % blocks_per_row, scale, &codes);
    }
    Ok(true)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::arch::test_values as values;
    use candle_core::quantized::ggml_file::qtensor_from_ggml;
    use candle_core::{Device, Tensor};

    /// GGUF blocks written the way ggml lays them out, from chosen codes and scales.
    pub fn q4_0_blocks(codes: &[i8], scales: &[half::f16]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (block, scale) in codes.chunks(BLOCK).zip(scales) {
            bytes.extend(scale.to_le_bytes());
            for j in 0..BLOCK / 2 {
                bytes.push(((block[j] + 8) as u8) | (((block[j + BLOCK / 2] + 8) as u8) << 4));
            }
        }
        bytes
    }

    /// The weights a layer built from blocks must hold: candle's own dequantization of random
    /// weights in each block type, and hand-chosen Q4_0 codes -8 … 7 (the nibble order).
    pub fn check_exact_weights(dequantized_from_blocks: impl Fn(&QTensor) -> Vec<f32>) {
        let (n, k) = (20, 96);
        let w = Tensor::from_vec(values(n * k, 3), (n, k), &Device::Cpu).unwrap();
        for dtype in [GgmlDType::Q4_0, GgmlDType::Q8_0] {
            let q = QTensor::quantize(&w, dtype).unwrap();
            let expected: Vec<f32> = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            assert_eq!(dequantized_from_blocks(&q), expected, "{dtype:?}");
        }
        let codes: Vec<i8> = (0..2 * BLOCK).map(|j| (j % 16) as i8 - 8).collect();
        let scales = [half::f16::from_f32(0.5), half::f16::from_f32(-0.25)];
        let bytes = q4_0_blocks(&codes, &scales);
        let q = qtensor_from_ggml(GgmlDType::Q4_0, &bytes, vec![1, 2 * BLOCK], &Device::Cpu).unwrap();
        let expected: Vec<f32> =
            codes.iter().enumerate().map(|(j, &c)| f32::from(c) * scales[j / BLOCK].to_f32()).collect();
        assert_eq!(dequantized_from_blocks(&q), expected);
    }

    #[test]
    fn other_block_types_are_left_to_the_caller() {
        let w = Tensor::from_vec(values(2 * 256, 4), (2, 256), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&w, GgmlDType::Q4K).unwrap();
        let mut called = false;
        assert!(!for_each_block(&q, |_, _, _, _| called = true).unwrap());
        assert!(!called);
    }
}
