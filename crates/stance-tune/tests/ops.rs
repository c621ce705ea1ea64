//! The trainable layer's fused ops against their definitions written with candle's primitive
//! ops (which have backward passes of their own), values and gradients, in f64 and f32.

use candle_core::{DType, Device, Tensor, Var, D};
use stance_heads::rng::SeededRng;
use stance_tune::ops;

fn random(shape: &[usize], rng: &mut SeededRng, scale: f64, dtype: DType) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.normal() * scale).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap()
}

fn layer_norm_reference(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Tensor {
    let mean = x.mean_keepdim(D::Minus1).unwrap();
    let centred = x.broadcast_sub(&mean).unwrap();
    let var = centred.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
    let normed = centred.broadcast_div(&(var + eps).unwrap().sqrt().unwrap()).unwrap();
    normed.broadcast_mul(w).unwrap().broadcast_add(b).unwrap()
}

fn softmax_reference(scores: &Tensor, bias: &Tensor, scale: f64) -> Tensor {
    let x = (scores * scale).unwrap().broadcast_add(bias).unwrap();
    let max = x.max_keepdim(D::Minus1).unwrap().detach();
    let e = x.broadcast_sub(&max).unwrap().exp().unwrap();
    e.broadcast_div(&e.sum_keepdim(D::Minus1).unwrap()).unwrap()
}

/// `x · ½(1 + erf(x/√2))`. Not candle's `gelu_erf`, whose backward pass rounds 1/√(2π) to
/// 0.398942 (a relative error of 7e-7).
fn gelu_reference(x: &Tensor) -> Tensor {
    let cdf = (((x / 2f64.sqrt()).unwrap().erf().unwrap() + 1.0).unwrap() * 0.5).unwrap();
    (x * cdf).unwrap()
}

/// Largest difference relative to the larger magnitude (at least 1).
fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let b = b.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    assert_eq!(a.len(), b.len());
    a.iter().zip(&b).map(|(x, y)| (x - y).abs() / x.abs().max(y.abs()).max(1.0)).fold(0.0, f64::max)
}

/// Values and the gradients of `Σ f(inputs) · probe` for the fused op and its reference.
fn compare(
    op: &str,
    inputs: &[Tensor],
    fused: impl Fn(&[Tensor]) -> Tensor,
    reference: impl Fn(&[Tensor]) -> Tensor,
    tol: f64,
) {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let (got, want) = (fused(&tensors), reference(&tensors));
    assert!(rel_diff(&got, &want) < tol, "{op} values: {}", rel_diff(&got, &want));
    let probe = random(got.dims(), &mut SeededRng::new(99), 1.0, got.dtype());
    let grads_got = (&got * &probe).unwrap().sum_all().unwrap().backward().unwrap();
    let grads_want = (&want * &probe).unwrap().sum_all().unwrap().backward().unwrap();
    for (i, v) in vars.iter().enumerate() {
        let (g, w) = (grads_got.get(v.as_tensor()).unwrap(), grads_want.get(v.as_tensor()).unwrap());
        assert_eq!(g.dims(), w.dims(), "{op} input {i}");
        assert!(rel_diff(g, w) < tol, "{op} gradient of input {i}: {}", rel_diff(g, w));
    }
}

#[test]
fn fused_ops_equal_their_primitive_definitions_in_value_and_gradient() {
    // f64 checks the formulas; f32 the encoder kernels' exp and erf inside them.
    for (dtype, tol) in [(DType::F64, 1e-9), (DType::F32, 2e-5)] {
        let mut rng = SeededRng::new(5);
        // 100 rows: more than one block of the parameter gradients' sums.
        let x = random(&[4, 25, 24], &mut rng, 2.0, dtype);
        let w = (random(&[24], &mut rng, 0.3, dtype) + 1.0).unwrap();
        let b = random(&[24], &mut rng, 0.3, dtype);
        compare(
            "layer norm",
            &[x.clone(), w, b],
            |t| ops::layer_norm(&t[0], &t[1], &t[2], 1e-12).unwrap(),
            |t| layer_norm_reference(&t[0], &t[1], &t[2], 1e-12),
            tol,
        );

        let mask: Vec<f64> = (0..3 * 7).map(|i| if i % 7 >= 7 - i / 7 * 2 { -1e9 } else { 0.0 }).collect();
        let bias = Tensor::from_vec(mask, (3, 1, 1, 7), &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
        let scores = random(&[3, 2, 7, 7], &mut rng, 3.0, dtype);
        let scale = 0.125f64.sqrt();
        compare(
            "masked softmax",
            &[scores.clone()],
            |t| ops::masked_softmax(&t[0], Some(&bias), scale).unwrap(),
            |t| softmax_reference(&t[0], &bias, scale),
            tol,
        );
        let no_mask = Tensor::zeros((3, 1, 1, 7), dtype, &Device::Cpu).unwrap();
        compare(
            "softmax",
            &[scores],
            |t| ops::masked_softmax(&t[0], None, scale).unwrap(),
            |t| softmax_reference(&t[0], &no_mask, scale),
            tol,
        );

        let bias = random(&[24], &mut rng, 1.0, dtype);
        compare(
            "add bias",
            &[x.clone(), bias],
            |t| ops::add_bias(&t[0], &t[1]).unwrap(),
            |t| t[0].broadcast_add(&t[1]).unwrap(),
            tol,
        );
        compare("gelu", &[x], |t| ops::gelu_erf(&t[0]).unwrap(), |t| gelu_reference(&t[0]), tol);
    }
}

#[test]
fn masked_keys_get_no_probability_and_no_gradient() {
    let bias = Tensor::from_vec(vec![0f32, 0., -1e9, -1e9], (1, 1, 1, 4), &Device::Cpu).unwrap();
    let scores = Var::from_tensor(&random(&[1, 1, 2, 4], &mut SeededRng::new(1), 1.0, DType::F32)).unwrap();
    let probs = ops::masked_softmax(scores.as_tensor(), Some(&bias), 1.0).unwrap();
    let p = probs.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!((p[2], p[3], p[6], p[7]), (0.0, 0.0, 0.0, 0.0));
    assert!((p[0] + p[1] - 1.0).abs() < 1e-6);
    let weights = Tensor::from_vec(vec![1f32, 2., 3., 4., 5., 6., 7., 8.], (1, 1, 2, 4), &Device::Cpu).unwrap();
    let grads = (probs * weights).unwrap().sum_all().unwrap().backward().unwrap();
    let g = grads.get(scores.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!((g[2], g[3], g[6], g[7]), (0.0, 0.0, 0.0, 0.0));
    assert!(g[0] != 0.0 && g[1] != 0.0);
}
