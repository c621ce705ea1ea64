//! Intel AMX (Advanced Matrix Extensions) for the bf16 GEMM: eight 1 KiB tile registers and
//! `tdpbf16ps`, which multiplies a 16 × 32 bfloat16 tile by a 32 × 16 one into a 16 × 16 f32
//! tile (8,192 multiply-adds) in one instruction.
//!
//! Why: on CPUs that have it (Xeon from Sapphire Rapids on), AVX-512's `vdpbf16ps` runs at a
//! fraction of the f32 FMA rate, so the AVX-512 bf16 path was slower than f32 there; the tiles
//! run the same products at 3.3 TFLOP/s on one core of the bench machine (BENCH.md), 30 times
//! its f32 rate.
//!
//! Using AMX takes three checks: the CPU reports AMX-TILE and AMX-BF16, the OS has turned on
//! the tile state in XCR0, and (on Linux) the process has asked for the tile data with
//! `arch_prctl(ARCH_REQ_XCOMP_PERM)`. [`bf16_usable`] makes all three once per process.
//!
//! Tile state belongs to a thread: each kernel call loads the configuration ([`Tiles::new`])
//! and releases it when done, so rayon's workers never carry state from one call to the next.

use std::arch::asm;
use std::sync::OnceLock;

/// Rows of a tile (and of the A operand's row block).
pub const TILE_ROWS: usize = 16;
/// bfloat16 inputs one tile of A covers (64 bytes a row).
pub const TILE_K: usize = 32;
/// f32 outputs a C tile row holds (and output channels a B tile covers).
pub const TILE_COLS: usize = 16;

/// Whether this process can run `tdpbf16ps`: CPU, OS and permission (checked once).
pub fn bf16_usable() -> bool {
    static USABLE: OnceLock<bool> = OnceLock::new();
    *USABLE.get_or_init(|| cpu_has_amx_bf16() && os_saves_tiles() && request_tile_data())
}

#[allow(unused_unsafe)] // `__cpuid` is a safe function in newer Rust.
fn cpu_has_amx_bf16() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: CPUID exists on every x86-64 CPU.
    let max_leaf = unsafe { __cpuid(0) }.eax;
    if max_leaf < 7 {
        return false;
    }
    // Leaf 7, subleaf 0, EDX: bit 22 AMX-BF16, bit 24 AMX-TILE.
    let edx = unsafe { __cpuid_count(7, 0) }.edx;
    let has = |bit: u32| edx & (1 << bit) != 0;
    // The AMX path rounds its activations with AVX-512 BF16 as well, and its code around the
    // tiles (attention's packing, the GEMM's bias adds) is compiled for AVX-512.
    has(22)
        && has(24)
        && std::arch::is_x86_feature_detected!("avx512bf16")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512dq")
}

/// XCR0 bits 17 (XTILECFG) and 18 (XTILEDATA): the OS saves the tile state on context switches.
fn os_saves_tiles() -> bool {
    if !std::arch::is_x86_feature_detected!("xsave") {
        return false;
    }
    #[target_feature(enable = "xsave")]
    unsafe fn xcr0() -> u64 {
        std::arch::x86_64::_xgetbv(0)
    }
    // SAFETY: the CPU has XSAVE, hence XGETBV; OSXSAVE is implied by the detection above.
    let xcr0 = unsafe { xcr0() };
    xcr0 & (0b11 << 17) == 0b11 << 17
}

/// Linux hands the 8 KiB tile data state to a process only on request.
#[cfg(target_os = "linux")]
fn request_tile_data() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: a plain system call with integer arguments.
    unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn request_tile_data() -> bool {
    false
}

/// The first `len` values of a buffer a thread keeps for the tiles' operands, grown with zeros
/// if it is shorter (the rest keeps what the last call left there).
pub fn sized<T: Copy + Default>(buffer: &mut Vec<T>, len: usize) -> &mut [T] {
    if buffer.len() < len {
        buffer.resize(len, T::default());
    }
    &mut buffer[..len]
}

/// The tile configuration `ldtilecfg` reads: palette 1, all eight tiles 16 rows × 64 bytes.
#[repr(C, align(64))]
struct Config {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    bytes_per_row: [u16; 16],
    rows: [u8; 16],
}

/// The tiles configured on this thread; released on drop.
pub struct Tiles(());

impl Tiles {
    /// Configures the eight tiles on the calling thread.
    ///
    /// # Safety
    /// [`bf16_usable`] must have returned true.
    pub unsafe fn new() -> Self {
        let mut config = Config { palette: 1, start_row: 0, reserved: [0; 14], bytes_per_row: [0; 16], rows: [0; 16] };
        for t in 0..8 {
            config.bytes_per_row[t] = 64;
            config.rows[t] = TILE_ROWS as u8;
        }
        asm!("ldtilecfg [{0}]", in(reg) &config as *const Config, options(nostack, readonly));
        Tiles(())
    }

    /// `R` (1 or 2) row blocks × `P` (1 or 2) panels of the product, over `chunks` chunks of
    /// [`TILE_K`] inputs: `c[r·16 + i][p·16 + j] = Σₖ a[r·16 + i][k] · b_p[k][j]`, summed chunk by
    /// chunk in order (a row's result depends on its own inputs only).
    ///
    /// - `a`: bfloat16 rows, `a_stride` codes apart, `R · 16` of them, `chunks · 32` codes each;
    /// - `b`: `P` panels `b_stride` codes apart, each `chunks · 16` pairs of inputs × 16 channels ×
    ///   2 codes (`[k/2][16][2]`, the layout `tdpbf16ps` and `vdpbf16ps` both read);
    /// - `c`: `R · 16` rows of `P · 16` f32, `c_stride` f32 apart, overwritten.
    ///
    /// # Safety
    /// The pointers must cover the extents above; `self` configured this thread.
    pub unsafe fn bf16_block<const R: usize, const P: usize>(
        &self,
        a: *const u16,
        a_stride: usize,
        b: *const u16,
        b_stride: usize,
        chunks: usize,
        c: *mut f32,
        c_stride: usize,
    ) {
        const { assert!(R >= 1 && R <= 2 && P >= 1 && P <= 2) };
        // Tiles: C in 0–3 (row block r, panel p → 2r + p), A in 4–5, B in 6–7.
        asm!("tilezero tmm0", options(nostack, nomem));
        if P == 2 {
            asm!("tilezero tmm1", options(nostack, nomem));
        }
        if R == 2 {
            asm!("tilezero tmm2", options(nostack, nomem));
            if P == 2 {
                asm!("tilezero tmm3", options(nostack, nomem));
            }
        }
        let a_bytes = a_stride * 2;
        for chunk in 0..chunks {
            let a0 = a.add(chunk * TILE_K);
            let b0 = b.add(chunk * TILE_K * TILE_COLS);
            asm!("tileloadd tmm4, [{0} + {1} * 1]", in(reg) a0, in(reg) a_bytes, options(nostack, readonly));
            if R == 2 {
                let a1 = a0.add(TILE_ROWS * a_stride);
                asm!("tileloadd tmm5, [{0} + {1} * 1]", in(reg) a1, in(reg) a_bytes, options(nostack, readonly));
            }
            asm!("tileloadd tmm6, [{0} + {1} * 1]", in(reg) b0, in(reg) 64usize, options(nostack, readonly));
            if P == 2 {
                let b1 = b0.add(b_stride);
                asm!("tileloadd tmm7, [{0} + {1} * 1]", in(reg) b1, in(reg) 64usize, options(nostack, readonly));
            }
            asm!("tdpbf16ps tmm0, tmm4, tmm6", options(nostack, nomem));
            if P == 2 {
                asm!("tdpbf16ps tmm1, tmm4, tmm7", options(nostack, nomem));
            }
            if R == 2 {
                asm!("tdpbf16ps tmm2, tmm5, tmm6", options(nostack, nomem));
                if P == 2 {
                    asm!("tdpbf16ps tmm3, tmm5, tmm7", options(nostack, nomem));
                }
            }
        }
        let c_bytes = c_stride * 4;
        asm!("tilestored [{0} + {1} * 1], tmm0", in(reg) c, in(reg) c_bytes, options(nostack));
        if P == 2 {
            asm!("tilestored [{0} + {1} * 1], tmm1", in(reg) c.add(TILE_COLS), in(reg) c_bytes, options(nostack));
        }
        if R == 2 {
            let c1 = c.add(TILE_ROWS * c_stride);
            asm!("tilestored [{0} + {1} * 1], tmm2", in(reg) c1, in(reg) c_bytes, options(nostack));
            if P == 2 {
                asm!("tilestored [{0} + {1} * 1], tmm3", in(reg) c1.add(TILE_COLS), in(reg) c_bytes, options(nostack));
            }
        }
    }
}

impl Drop for Tiles {
    fn drop(&mut self) {
        // SAFETY: tiles exist on this thread (`new` configured them).
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }
}
