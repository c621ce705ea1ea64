//! From a [`TokenBatch`] (plain ids) to the tensors a forward pass needs, with the checks that
//! keep bad input from reaching an index operation.

use crate::error::ModelError;
use crate::TokenBatch;
use candle_core::{Device, Tensor};

/// Checks lengths, the mask values and the id ranges of a batch.
pub fn validate(batch: &TokenBatch, vocab_size: usize) -> Result<(), ModelError> {
    let cells = batch
        .batch_size
        .checked_mul(batch.seq_len)
        .ok_or_else(|| ModelError::InvalidBatch("batch size × sequence length overflows".into()))?;
    if batch.batch_size == 0 || batch.seq_len == 0 {
        return Err(ModelError::InvalidBatch(format!(
            "empty batch ({} rows × {} tokens)",
            batch.batch_size, batch.seq_len
        )));
    }
    if batch.input_ids.len() != cells || batch.attention_mask.len() != cells {
        return Err(ModelError::InvalidBatch(format!(
            "{} rows × {} tokens need {cells} ids and mask values, got {} and {}",
            batch.batch_size,
            batch.seq_len,
            batch.input_ids.len(),
            batch.attention_mask.len()
        )));
    }
    if !batch.token_type_ids.is_empty() && batch.token_type_ids.len() != cells {
        return Err(ModelError::InvalidBatch(format!(
            "{cells} token type ids expected (or none), got {}",
            batch.token_type_ids.len()
        )));
    }
    if let Some(bad) = batch.attention_mask.iter().find(|&&m| m > 1) {
        return Err(ModelError::InvalidBatch(format!(
            "attention mask values must be 0 or 1, got {bad}"
        )));
    }
    for (row, mask) in batch.attention_mask.chunks(batch.seq_len).enumerate() {
        if mask[0] == 0 {
            return Err(ModelError::InvalidBatch(format!(
                "row {row} starts with padding (batches must be right-padded and non-empty)"
            )));
        }
    }
    if let Some(bad) = batch.input_ids.iter().find(|&&id| id as usize >= vocab_size) {
        return Err(ModelError::InvalidBatch(format!(
            "token id {bad} is outside the vocabulary of {vocab_size} ids"
        )));
    }
    Ok(())
}

pub fn input_ids(batch: &TokenBatch, device: &Device) -> candle_core::Result<Tensor> {
    Tensor::from_slice(&batch.input_ids, (batch.batch_size, batch.seq_len), device)
}

/// The attention mask as f32 `[batch, seq]` (1 on real tokens).
pub fn mask_f32(batch: &TokenBatch, device: &Device) -> candle_core::Result<Tensor> {
    let mask: Vec<f32> = batch.attention_mask.iter().map(|&m| m as f32).collect();
    Tensor::from_vec(mask, (batch.batch_size, batch.seq_len), device)
}

/// Token type ids `[batch, seq]`, or `None` when they are all 0 (then row 0 of the table is
/// simply added everywhere).
pub fn token_type_ids(
    batch: &TokenBatch,
    type_vocab_size: usize,
    device: &Device,
) -> Result<Option<Tensor>, ModelError> {
    if batch.token_type_ids.iter().all(|&t| t == 0) {
        return Ok(None);
    }
    if let Some(bad) = batch
        .token_type_ids
        .iter()
        .find(|&&t| t as usize >= type_vocab_size)
    {
        return Err(ModelError::InvalidBatch(format!(
            "token type id {bad} is outside the model's {type_vocab_size} token types"
        )));
    }
    Ok(Some(Tensor::from_slice(
        &batch.token_type_ids,
        (batch.batch_size, batch.seq_len),
        device,
    )?))
}

/// Additive attention bias `[batch, 1, 1, seq]`: 0 where the mask is 1 and `f32::MIN` (as
/// transformers uses) on padding. `None` when nothing is padded, which skips the addition.
pub fn mask_bias(batch: &TokenBatch, device: &Device) -> candle_core::Result<Option<Tensor>> {
    if batch.attention_mask.iter().all(|&m| m == 1) {
        return Ok(None);
    }
    let bias: Vec<f32> = batch
        .attention_mask
        .iter()
        .map(|&m| if m == 1 { 0.0 } else { f32::MIN })
        .collect();
    Tensor::from_vec(bias, (batch.batch_size, 1, 1, batch.seq_len), device).map(Some)
}

/// Checks that `seq_len` positions fit a table of `max_positions` rows.
pub fn check_length(batch: &TokenBatch, max_tokens: usize) -> Result<(), ModelError> {
    if batch.seq_len > max_tokens {
        return Err(ModelError::InvalidBatch(format!(
            "sequences of {} tokens exceed the model's limit of {max_tokens}",
            batch.seq_len
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(ids: Vec<u32>, mask: Vec<u32>, rows: usize) -> TokenBatch {
        let seq_len = ids.len() / rows;
        TokenBatch {
            input_ids: ids,
            attention_mask: mask,
            token_type_ids: Vec::new(),
            batch_size: rows,
            seq_len,
        }
    }

    #[test]
    fn rejects_bad_batches() {
        assert!(validate(&batch(vec![1, 2, 3], vec![1, 1, 1], 1), 4).is_ok());
        assert!(validate(&batch(vec![1, 2, 9], vec![1, 1, 1], 1), 4).is_err());
        assert!(validate(&batch(vec![1, 2, 3], vec![1, 1], 1), 4).is_err());
        assert!(validate(&batch(vec![1, 2, 3, 0], vec![1, 1, 0, 1], 2), 4).is_err());
        assert!(validate(&batch(vec![1, 2, 3], vec![1, 2, 1], 1), 4).is_err());
    }

    #[test]
    fn mask_bias_is_skipped_without_padding() -> candle_core::Result<()> {
        let full = batch(vec![1, 2, 3, 1], vec![1, 1, 1, 1], 2);
        assert!(mask_bias(&full, &Device::Cpu)?.is_none());
        let padded = batch(vec![1, 2, 3, 0], vec![1, 1, 1, 0], 2);
        let bias = mask_bias(&padded, &Device::Cpu)?.expect("bias");
        assert_eq!(bias.dims(), [2, 1, 1, 2]);
        assert_eq!(bias.flatten_all()?.to_vec1::<f32>()?, [0.0, 0.0, 0.0, f32::MIN]);
        Ok(())
    }
}
