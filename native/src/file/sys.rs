//! The handful of libc calls the file layer needs (std has no mmap or flock).
//!
//! These are plain C library functions, not Node-API; they are declared here so the
//! crate stays dependency-free (crates.io is not reachable from our build machines).

use std::io;
use std::os::raw::{c_int, c_long, c_void};

pub const PROT_READ: c_int = 0x1;
pub const PROT_WRITE: c_int = 0x2;
pub const PROT_NONE: c_int = 0x0;
pub const MAP_SHARED: c_int = 0x01;
pub const MAP_PRIVATE: c_int = 0x02;
pub const MAP_FIXED: c_int = 0x10;
pub const MAP_ANONYMOUS: c_int = 0x20;
pub const MAP_NORESERVE: c_int = 0x4000;
pub const LOCK_SH: c_int = 1;
pub const LOCK_EX: c_int = 2;
pub const LOCK_NB: c_int = 4;
pub const LOCK_UN: c_int = 8;

extern "C" {
    fn mmap(addr: *mut c_void, len: usize, prot: c_int, flags: c_int, fd: c_int, off: c_long) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> c_int;
    fn flock(fd: c_int, op: c_int) -> c_int;
    fn fallocate(fd: c_int, mode: c_int, offset: c_long, len: c_long) -> c_int;
    fn clock_gettime(clock: c_int, ts: *mut Timespec) -> c_int;
}

/// `struct timespec` on 64-bit Linux.
#[repr(C)]
struct Timespec {
    tv_sec: c_long,
    tv_nsec: c_long,
}

const CLOCK_REALTIME: c_int = 0;

/// Nanoseconds since the Unix epoch from `CLOCK_REALTIME` (0 if the clock fails or reads before
/// 1970). The recorder reads it for every span and measurement without a time: the direct call
/// costs a fraction of `SystemTime::now().duration_since(UNIX_EPOCH)`'s checked arithmetic.
pub fn realtime_nanos() -> u64 {
    let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable `struct timespec` for the duration of the call, and
    // CLOCK_REALTIME is always a valid clock id.
    let rc = unsafe { clock_gettime(CLOCK_REALTIME, &mut ts) };
    if rc != 0 || ts.tv_sec < 0 || ts.tv_nsec < 0 {
        return 0;
    }
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

const MAP_FAILED: *mut c_void = !0usize as *mut c_void;

/// Reserves `len` bytes of address space with no access and no backing.
pub fn reserve(len: usize) -> io::Result<*mut u8> {
    // SAFETY: an anonymous PROT_NONE mapping at a kernel-chosen address touches no
    // existing memory; the result is checked against MAP_FAILED.
    let p = unsafe {
        mmap(std::ptr::null_mut(), len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
    };
    if p == MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p as *mut u8)
}

/// Maps `len` bytes of `fd` from offset 0 over the start of a reservation made by
/// [`reserve`] (`MAP_FIXED` replaces the reserved pages in place).
///
/// # Safety
/// `addr..addr+len` must lie inside a reservation this process owns and that no
/// live reference points into as ordinary Rust memory.
pub unsafe fn map_fixed_shared(addr: *mut u8, len: usize, fd: c_int, writable: bool) -> io::Result<()> {
    let prot = if writable { PROT_READ | PROT_WRITE } else { PROT_READ };
    // SAFETY: the caller guarantees the range is ours (see above); MAP_FIXED then
    // only replaces our own reserved pages.
    let p = unsafe { mmap(addr as *mut c_void, len, prot, MAP_SHARED | MAP_FIXED, fd, 0) };
    if p == MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Releases a reservation (and whatever is mapped inside it).
///
/// # Safety
/// No reference into `addr..addr+len` may be used afterwards.
pub unsafe fn release(addr: *mut u8, len: usize) {
    // SAFETY: guaranteed by the caller; munmap of our own range cannot fail in a way
    // that leaves memory unsafe, so the result is ignored.
    unsafe {
        munmap(addr as *mut c_void, len);
    }
}

/// `flock(fd, op)`; `Ok(false)` when a non-blocking request would block.
pub fn lock(fd: c_int, op: c_int) -> io::Result<bool> {
    // SAFETY: flock only reads its integer arguments.
    let r = unsafe { flock(fd, op) };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Allocates `offset..offset+len` of the file (Linux `fallocate`, mode 0), growing
/// it when that range ends past the end of the file; never shrinks it. The call holds
/// the file's inode lock, so it returns only after any growth another writer has in
/// flight (which may zero the tail of the old last block) has finished.
///
/// Unlike glibc's `posix_fallocate`, this never falls back to writing zero bytes
/// across the range, which could overwrite another writer's data. Filesystems without
/// `fallocate` fail with an error [`unsupported`] recognises.
pub fn allocate(fd: c_int, offset: u64, len: u64) -> io::Result<()> {
    let (Ok(off), Ok(n)) = (c_long::try_from(offset), c_long::try_from(len)) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "file range too large"));
    };
    // SAFETY: fallocate only reads its integer arguments.
    if unsafe { fallocate(fd, 0, off, n) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether `e` says the filesystem (or kernel) has no `fallocate`.
pub fn unsupported(e: &io::Error) -> bool {
    const ENOSYS: i32 = 38;
    const EOPNOTSUPP: i32 = 95;
    matches!(e.raw_os_error(), Some(ENOSYS | EOPNOTSUPP))
}
