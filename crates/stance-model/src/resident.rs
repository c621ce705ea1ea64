//! Handing back the pages of data compiled into the binary once it has been copied out.
//!
//! The default heads and cross-encoders are `include_bytes!` in the `stance` binary (97 MB).
//! Loading copies them into tensors, and the pages they were read from then stayed in the
//! resident set for the whole run (counted in peak RSS: 75 MB when they were 76 MB) although
//! nothing reads them again.

/// Asks the kernel to reclaim the whole pages inside `bytes` (`MADV_PAGEOUT`): they leave the
/// process's resident set, and a later read faults them back in, unchanged. Reclaim never
/// discards data (unlike `MADV_DONTNEED`, which zero-fills anonymous pages), so this is safe
/// whatever backs `bytes`; it only costs a page fault if they are read again. Meant for
/// read-only data of the binary that was just copied. A no-op where the kernel cannot do it
/// (Linux before 5.4, other systems).
pub fn release_static(bytes: &'static [u8]) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let Ok(page) = usize::try_from(page) else { return };
        if page == 0 {
            return;
        }
        let start = bytes.as_ptr() as usize;
        let first = start.div_ceil(page) * page;
        let end = (start + bytes.len()) / page * page;
        if end > first {
            // SAFETY: [first, end) is whole pages inside `bytes`, which lives as long as the
            // process; MADV_PAGEOUT changes residency only, never contents, and its failure
            // (an older kernel) leaves everything as it was.
            unsafe { libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_PAGEOUT) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEN: usize = 5 * 4096 + 123;

    const fn pattern() -> [u8; LEN] {
        let mut bytes = [0u8; LEN];
        let mut i = 0;
        while i < LEN {
            bytes[i] = (i * 31 % 251) as u8;
            i += 1;
        }
        bytes
    }

    static DATA: [u8; LEN] = pattern();

    #[test]
    fn released_pages_read_back_unchanged() {
        release_static(&DATA);
        // Read through black_box so that the reads go to memory, not to the constant.
        let data = std::hint::black_box(&DATA);
        assert!(data.iter().enumerate().all(|(i, &b)| b == (i * 31 % 251) as u8));
        release_static(&DATA[1..10]);
        release_static(&[]);
        assert_eq!(std::hint::black_box(&DATA)[LEN - 1], ((LEN - 1) * 31 % 251) as u8);
    }
}
