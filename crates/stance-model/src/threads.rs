//! Bounding the CPU threads candle uses.
//!
//! candle 0.11's CPU backend has three sources of threads, all sized once, on first use:
//! - its "barrier pool" (quantized matmuls, element-wise maps): `CANDLE_NUM_THREADS`, else
//!   `RAYON_NUM_THREADS`, else the number of physical cores (`candle_core::utils`);
//! - its private rayon pool (`Device::with_context`): `RAYON_NUM_THREADS`, else physical cores;
//! - `gemm` float matmuls: split into `candle_core::utils::get_num_threads()` tasks (read from
//!   `RAYON_NUM_THREADS` on every call) that run on the *current* rayon pool, normally the
//!   global one, which rayon sizes from `RAYON_NUM_THREADS` when it is first used.
//!
//! None of them takes a number from code, so [`limit_threads`] sets both variables and builds
//! the global rayon pool before any of them exists. It must run before the first tensor
//! operation (the CLI calls it first thing). Then at most `n` threads compute at once: either
//! gemm's tasks on the `n` rayon threads, or the barrier pool's `n - 1` workers and the caller.
//! The tokenizer thread of the batch pipeline comes on top (it mostly waits). Measured with
//! `stance embed --threads N` on e5 (OS threads of the process, sampled from /proc): 4, 6 and
//! 10 threads for N = 1, 2, 4; with N = 1, user CPU time stays at or under wall time.

use crate::error::ModelError;

/// Makes every candle CPU pool use `n` threads. Call before anything runs a model.
pub fn limit_threads(n: usize) -> Result<(), ModelError> {
    if n == 0 {
        return Err(ModelError::InvalidRequest(
            "the thread count must be at least 1".into(),
        ));
    }
    let value = n.to_string();
    // Safe in edition 2021; called before the pipeline starts its threads.
    std::env::set_var("RAYON_NUM_THREADS", &value);
    std::env::set_var("CANDLE_NUM_THREADS", &value);
    match rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
    {
        Ok(()) => Ok(()),
        // Built earlier with the same size (a second call): nothing to change.
        Err(_) if rayon::current_num_threads() == n => Ok(()),
        Err(e) => Err(ModelError::InvalidRequest(format!(
            "cannot bound threads to {n}: the thread pool already runs with {} ({e})",
            rayon::current_num_threads()
        ))),
    }
}
