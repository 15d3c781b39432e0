//! A shared mapping of a whole file, reserved larger than the file so the file
//! can grow without remapping (pages past the end of the file are never touched).

use super::sys;
use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicI32, AtomicI64};

/// A `MAP_SHARED` mapping of `file` covering `reserved` bytes of address space.
///
/// Only offsets below the file's length may be touched; callers check with
/// [`Mapping::file_len`] (the writer grows the file before touching new bytes).
pub struct Mapping {
    base: *mut u8,
    reserved: usize,
    file: File,
}

impl Mapping {
    /// Maps `file` with `reserved` bytes of address space (at least the file's length).
    pub fn new(file: File, reserved: u64, writable: bool) -> io::Result<Mapping> {
        let reserved = usize::try_from(reserved.max(4096))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mapping too large"))?;
        let base = sys::reserve(reserved)?;
        // SAFETY: `base..base+reserved` is the reservation made just above and nothing
        // refers to it yet.
        if let Err(e) = unsafe { sys::map_fixed_shared(base, reserved, file.as_raw_fd(), writable) } {
            // SAFETY: the reservation is ours and unused.
            unsafe { sys::release(base, reserved) };
            return Err(e);
        }
        Ok(Mapping { base, reserved, file })
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// Address space reserved; offsets at or past this are never accessible.
    pub fn reserved(&self) -> u64 {
        self.reserved as u64
    }

    /// The file's current length (fstat).
    pub fn file_len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    /// Raw pointer to `off`. Callers check `off + len <= file_len` and `<= reserved`.
    #[inline]
    pub fn ptr(&self, off: u64) -> *mut u8 {
        debug_assert!(off <= self.reserved as u64);
        // SAFETY: `off` is within the reservation (checked by callers, asserted in
        // debug builds), so the result stays inside one allocation.
        unsafe { self.base.add(off as usize) }
    }

    /// The `AtomicI64` at `off` (8-aligned, inside the file).
    #[inline]
    pub fn atomic_i64(&self, off: u64) -> &AtomicI64 {
        assert!(off.is_multiple_of(8) && off + 8 <= self.reserved as u64, "atomic_i64 at {off}");
        // SAFETY: aligned (asserted), inside the mapping (asserted), and shared memory
        // is only ever accessed atomically at this offset by every v1 writer/reader.
        unsafe { &*(self.ptr(off) as *const AtomicI64) }
    }

    /// The `AtomicI32` at `off` (4-aligned, inside the file).
    #[inline]
    pub fn atomic_i32(&self, off: u64) -> &AtomicI32 {
        assert!(off.is_multiple_of(4) && off + 4 <= self.reserved as u64, "atomic_i32 at {off}");
        // SAFETY: as for `atomic_i64`.
        unsafe { &*(self.ptr(off) as *const AtomicI32) }
    }

    /// Copies `dst.len()` bytes at `off` out of the mapping.
    #[inline]
    pub fn read_into(&self, off: u64, dst: &mut [u8]) {
        assert!(off + dst.len() as u64 <= self.reserved as u64);
        // SAFETY: the source range is inside the mapping (asserted); `dst` is ordinary
        // memory that cannot overlap the shared mapping.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr(off), dst.as_mut_ptr(), dst.len()) }
    }

    /// Copies `src` into the mapping at `off`.
    #[inline]
    pub fn write_from(&self, off: u64, src: &[u8]) {
        assert!(off + src.len() as u64 <= self.reserved as u64);
        // SAFETY: the destination is inside the mapping (asserted) and was reserved
        // for this writer (a claimed ring slot or dictionary space), so no other
        // writer touches it; `src` is ordinary memory.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr(off), src.len()) }
    }

    /// Grows the file to at least `len` bytes (never shrinks).
    pub fn grow_file(&self, len: u64) -> io::Result<()> {
        if len > self.reserved as u64 {
            return Err(io::Error::new(io::ErrorKind::OutOfMemory, "file would outgrow its reservation"));
        }
        sys::grow_to(self.file.as_raw_fd(), len)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping is dropped only when its owner is; no reference into
        // it outlives `self` (all accessors borrow `self`).
        unsafe { sys::release(self.base, self.reserved) }
    }
}

// The mapping is plain shared memory; moving it between threads is fine.
// SAFETY: all shared state inside is accessed through atomics or owned-slot copies.
unsafe impl Send for Mapping {}
