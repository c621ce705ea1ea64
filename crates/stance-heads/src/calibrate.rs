//! Temperature scaling (Guo et al., 2017): one scalar `T` dividing the logits, fitted on
//! validation data by minimising the negative log-likelihood. It changes confidences, never the
//! predicted class.

/// Softmax of `logits / temperature`.
pub fn softmax(logits: &[f32], temperature: f64) -> Vec<f32> {
    let scaled: Vec<f64> = logits.iter().map(|&z| f64::from(z) / temperature).collect();
    let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = scaled.iter().map(|z| (z - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| (e / sum) as f32).collect()
}

/// Mean negative log-likelihood of `gold` under `softmax(logits / temperature)`.
pub fn nll(logits: &[Vec<f32>], gold: &[usize], temperature: f64) -> f64 {
    let total: f64 = logits
        .iter()
        .zip(gold)
        .map(|(row, &g)| {
            let scaled: Vec<f64> = row.iter().map(|&z| f64::from(z) / temperature).collect();
            let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + scaled.iter().map(|z| (z - max).exp()).sum::<f64>().ln();
            lse - scaled[g]
        })
        .sum();
    total / logits.len().max(1) as f64
}

/// The temperature in [0.05, 20] that minimises the validation NLL. The NLL is convex in 1/T,
/// so a golden-section search on 1/T finds the minimum.
pub fn fit_temperature(logits: &[Vec<f32>], gold: &[usize]) -> f64 {
    if logits.is_empty() {
        return 1.0;
    }
    let f = |beta: f64| nll(logits, gold, 1.0 / beta);
    let (mut a, mut b) = (0.05f64, 20.0f64);
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - ratio * (b - a);
    let mut d = a + ratio * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..80 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - ratio * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + ratio * (b - a);
            fd = f(d);
        }
    }
    1.0 / ((a + b) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_the_temperature_of_overconfident_logits() {
        // Logits drawn so that softmax(z / 2) is calibrated: the fit should find T ≈ 2.
        let mut rng = crate::rng::SeededRng::new(5);
        let mut logits = Vec::new();
        let mut gold = Vec::new();
        for _ in 0..20_000 {
            let z: Vec<f32> = (0..3).map(|_| (rng.normal() * 2.0) as f32).collect();
            let p = softmax(&z, 1.0);
            let u = rng.next_f64() as f32;
            let g = if u < p[0] {
                0
            } else if u < p[0] + p[1] {
                1
            } else {
                2
            };
            logits.push(z.iter().map(|v| v * 2.0).collect());
            gold.push(g);
        }
        let t = fit_temperature(&logits, &gold);
        assert!((t - 2.0).abs() < 0.1, "T = {t}");
        assert!(nll(&logits, &gold, t) < nll(&logits, &gold, 1.0));
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_the_order() {
        let p = softmax(&[1.0, 3.0, 2.0], 0.5);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[1] > p[2] && p[2] > p[0]);
    }
}
