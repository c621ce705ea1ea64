//! Architecture families. Each submodule loads one family from a config and weights.
//!
//! - [`bert`]: BERT, XLM-RoBERTa/CamemBERT/RoBERTa and multilingual-e5, f32 or quantized.
//! - [`distilbert`]: DistilBERT, f32 or quantized.
//! - [`deberta`]: DeBERTa-v2/v3 (candle-transformers' encoder), f32.
//! - [`modernbert`]: ModernBERT (candle-transformers' encoder, own logits head), f32.

/// Calls the micro-kernel `$kernel::<R, P>(tile, first_panel, acc)` that fits `$tile`: all
/// `$full` panels at once when the tile has them, else one panel at a time (the last tile of a
/// layer whose width is not a multiple of the tile's), for `$tile.rows` among `$rows`. Shared by
/// the int8, int16 and bf16 GEMMs, whose `Tile::run` asserts the rows and panels first.
#[cfg(target_arch = "x86_64")]
macro_rules! dispatch_tile {
    ($kernel:ident, $tile:expr, $acc:expr, full = $full:literal, rows = [$($r:literal),+]) => {{
        let (t, acc) = ($tile, $acc);
        if t.panels == $full {
            match t.rows {
                $($r => $kernel::<$r, $full>(t, 0, acc),)+
                rows => unreachable!("a tile of {rows} rows"),
            }
        } else {
            for p in 0..t.panels {
                match t.rows {
                    $($r => $kernel::<$r, 1>(t, p, acc),)+
                    rows => unreachable!("a tile of {rows} rows"),
                }
            }
        }
    }};
}

#[cfg(target_arch = "x86_64")]
pub mod amx;
#[cfg(target_arch = "x86_64")]
mod attention_bf16;
pub mod bert;
pub mod bf16;
pub mod deberta;
pub mod distilbert;
pub mod gguf_blocks;
pub mod inputs;
pub mod int16;
pub mod int8;
pub mod kernels;
pub mod layers;
pub mod modernbert;

/// Deterministic pseudo-random values uniform in [-1, 1) (xorshift), for the kernels' tests.
#[cfg(test)]
pub(crate) fn test_values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Behaviour every quantized linear layer shares, checked the same way for each.
#[cfg(test)]
pub(crate) mod linear_checks {
    use super::test_values as values;

    /// A quantized linear layer as the checks build and run it.
    pub trait QuantizedLinear {
        fn build(weight: &[f32], out_dim: usize, in_dim: usize, bias: Option<Vec<f32>>) -> Self;
        fn run(&self, x: &[f32]) -> Vec<f32>;
    }

    /// The largest error against the f32 product on sums of 384 products of values in
    /// [-1, 1) (|y| ~ 11) must stay under `bound`.
    pub fn close_to_the_f32_product<L: QuantizedLinear>(bound: f32) {
        let (rows, k, n) = (37, 384, 96);
        let x = values(rows * k, 5);
        let w = values(n * k, 6);
        let got = L::build(&w, n, k, None).run(&x);
        let mut worst = 0f32;
        for (m, row) in x.chunks(k).enumerate() {
            for c in 0..n {
                let exact: f32 = row.iter().zip(&w[c * k..(c + 1) * k]).map(|(a, b)| a * b).sum();
                worst = worst.max((got[m * n + c] - exact).abs());
            }
        }
        assert!(worst < bound, "max |Δ| {worst}");
    }

    /// A row's result is the same alone as in a batch.
    pub fn rows_do_not_depend_on_their_batch<L: QuantizedLinear>() {
        let (k, n) = (100, 50);
        let x = values(23 * k, 9);
        let layer = L::build(&values(n * k, 10), n, k, Some(values(n, 11)));
        let all = layer.run(&x);
        for m in [0, 4, 22] {
            let one = layer.run(&x[m * k..(m + 1) * k]);
            assert_eq!(one, all[m * n..(m + 1) * n]);
        }
    }

    /// An all-zero row gives the bias exactly, a constant row its sums within `bound`, and a
    /// zero weight row zeros.
    pub fn zero_rows_and_constant_rows<L: QuantizedLinear>(bound: f32) {
        let (k, n) = (8, 3);
        let w = values(n * k, 1);
        let layer = L::build(&w, n, k, Some(vec![1.0, 2.0, 3.0]));
        let mut x = vec![0f32; k];
        x.extend(vec![2.0f32; k]);
        let y = layer.run(&x);
        assert_eq!(&y[..3], &[1.0, 2.0, 3.0]);
        for c in 0..n {
            let exact: f32 = w[c * k..(c + 1) * k].iter().map(|v| v * 2.0).sum::<f32>() + (c + 1) as f32;
            assert!((y[3 + c] - exact).abs() < bound, "{} vs {exact}", y[3 + c]);
        }
        let layer = L::build(&vec![0.0; k], 1, k, None);
        assert_eq!(layer.run(&values(k, 3)), vec![0.0]);
    }
}
