//! Sentence vectors from token states: masked mean, first token, L2 normalisation.
//! Pure tensor functions, shared by the embedding path and ModernBERT's mean-pooling head.

use candle_core::{DType, Result, Tensor, D};

/// Mean of `hidden` (`[batch, seq, dim]`) over the positions where `mask` (`[batch, seq]`,
/// any numeric dtype, 1 = real token) is set, specials included. Gives `[batch, dim]`.
/// A row without any real token gives zeros rather than NaN.
pub fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask = mask.to_dtype(hidden.dtype())?;
    let summed = hidden.broadcast_mul(&mask.unsqueeze(D::Minus1)?)?.sum(1)?;
    // As sentence-transformers does: clamp the count so an empty row cannot divide by zero.
    let counts = mask.sum_keepdim(1)?.clamp(1e-9f64, f64::MAX)?;
    summed.broadcast_div(&counts)
}

/// The first token's state (`[CLS]`, `<s>`) of every row: `[batch, dim]`.
pub fn cls_pool(hidden: &Tensor) -> Result<Tensor> {
    hidden.narrow(1, 0, 1)?.squeeze(1)?.contiguous()
}

/// Each row divided by its L2 norm (`[batch, dim]`), with the norm floored at 1e-12 as in
/// `torch.nn.functional.normalize`.
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let x = if x.dtype() == DType::F32 {
        x.clone()
    } else {
        x.to_dtype(DType::F32)?
    };
    let norms = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12f64, f64::MAX)?;
    x.broadcast_div(&norms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn mean_pool_ignores_padding() -> Result<()> {
        let hidden = Tensor::new(
            &[[[1f32, 2.], [3., 4.], [100., 100.]], [[2., 0.], [0., 2.], [4., 4.]]],
            &Device::Cpu,
        )?;
        let mask = Tensor::new(&[[1u32, 1, 0], [1, 1, 1]], &Device::Cpu)?;
        let pooled = mean_pool(&hidden, &mask)?.to_vec2::<f32>()?;
        assert_eq!(pooled, [[2.0, 3.0], [2.0, 2.0]]);
        assert_eq!(cls_pool(&hidden)?.to_vec2::<f32>()?, [[1.0, 2.0], [2.0, 0.0]]);
        Ok(())
    }

    #[test]
    fn empty_rows_pool_to_zero_and_normalise_safely() -> Result<()> {
        let hidden = Tensor::new(&[[[1f32, 2.]]], &Device::Cpu)?;
        let mask = Tensor::new(&[[0u32]], &Device::Cpu)?;
        let pooled = mean_pool(&hidden, &mask)?;
        assert_eq!(pooled.to_vec2::<f32>()?, [[0.0, 0.0]]);
        assert_eq!(l2_normalize(&pooled)?.to_vec2::<f32>()?, [[0.0, 0.0]]);
        let unit = l2_normalize(&Tensor::new(&[[3f32, 4.]], &Device::Cpu)?)?;
        assert_eq!(unit.to_vec2::<f32>()?, [[0.6, 0.8]]);
        Ok(())
    }
}
