//! A shared mapping of a whole file, reserved larger than the file so the file
//! can grow without remapping (pages past the end of the file are never touched).

use super::layout::align_file;
use super::sys;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};

/// A `MAP_SHARED` mapping of `file` covering `reserved` bytes of address space.
///
/// Only offsets below the file's length may be touched; callers check with
/// [`Mapping::file_len`] (the writer grows the file before touching new bytes).
pub struct Mapping {
    base: *mut u8,
    reserved: usize,
    file: File,
    /// A length up to which this mapping may write without a system call: a file
    /// length seen before one of this mapping's own `fallocate`/`pwrite` calls
    /// returned, or what that call covered (see [`Mapping::ensure_len`]).
    safe_len: AtomicU64,
    /// Tests only: behave as on a filesystem without `fallocate`.
    #[cfg(test)]
    pub no_fallocate: bool,
    /// Tests only: grow to odd lengths, not whole blocks, so that every growth
    /// zeroes the rest of a block and writers keep meeting that zeroing in flight.
    #[cfg(test)]
    pub grow_unaligned: bool,
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
        Ok(Mapping {
            base,
            reserved,
            file,
            safe_len: AtomicU64::new(0),
            #[cfg(test)]
            no_fallocate: false,
            #[cfg(test)]
            grow_unaligned: false,
        })
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

    /// Declares that the file is `len` bytes long and that no one else can be growing it
    /// (the creator, before the file is published under its name).
    pub fn set_safe_len(&self, len: u64) {
        self.safe_len.store(len, Ordering::Relaxed);
    }

    /// Makes `start..need` (space this writer has claimed and nobody else writes) safe
    /// to write: the file covers it, and no growth that could still zero it is in flight.
    ///
    /// Growing a file whose length is not a multiple of the block size zeroes the rest
    /// of the old last block, and the kernel may publish the new length before that
    /// zeroing is done. A writer that saw the new length through `fstat` and wrote at
    /// once could have its bytes zeroed. So a writer only writes past its own safe
    /// length after its own `fallocate` (or, without `fallocate`, a one-byte `pwrite`
    /// inside its own space) returned: both take the file's inode lock, so any growth
    /// in flight has finished by then. Lengths this writer saw before that call are
    /// safe too. The system call is only made when `need` passes the safe length, and
    /// the file grows by doubling, to multiples of
    /// [`FILE_ALIGN`](super::layout::FILE_ALIGN), so our own growth zeroes nothing.
    pub fn ensure_len(&self, start: u64, need: u64) -> io::Result<()> {
        if need <= self.safe_len.load(Ordering::Relaxed) {
            return Ok(());
        }
        debug_assert!(start < need, "an entry is at least one byte");
        let reserved = self.reserved as u64;
        if need > reserved {
            return Err(io::Error::new(io::ErrorKind::OutOfMemory, "file would outgrow its reservation"));
        }
        let len = self.file_len()?;
        let target = if need > len { align_file(len.saturating_mul(2).max(need)).min(reserved) } else { need };
        #[cfg(test)]
        let target = if self.grow_unaligned && need > len { (len.saturating_mul(2).max(need) | 1).min(reserved) } else { target };
        let fd = self.file.as_raw_fd();
        #[cfg(test)]
        let tried = if self.no_fallocate { Err(io::Error::from_raw_os_error(95)) } else { sys::allocate(fd, start, target - start) };
        #[cfg(not(test))]
        let tried = sys::allocate(fd, start, target - start);
        let covered = match tried {
            Ok(()) => target,
            Err(e) if sys::unsupported(&e) => {
                // The byte is this writer's own, not yet written; `pwrite` grows the
                // file to `need` when it is shorter.
                self.file.write_at(&[0], need - 1)?;
                need
            }
            Err(e) => return Err(e),
        };
        self.safe_len.fetch_max(len.max(covered), Ordering::Relaxed);
        Ok(())
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
