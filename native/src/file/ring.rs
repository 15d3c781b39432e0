//! A v1 ring buffer: many lock-free producers, one consumer.
//!
//! ```text
//! | header (32 B) | availability: i32 x N | slot 0 | ... | slot N-1 |
//! ```
//! * `reader_index` is written only by the single consumer (release), read by
//!   producers (acquire).
//! * `writer_index` is advanced by producers with compare-exchange.
//! * `availability[k]` is written by the producer that claimed the slot
//!   (release, after the record) and read by the consumer (acquire).

use super::layout::*;
use super::mapping::Mapping;
use std::sync::atomic::Ordering;

/// Where one ring lives and its geometry.
#[derive(Clone, Copy, Debug)]
pub struct Ring {
    pub offset: u64,
    pub num_buffers: u64,
    pub buffer_size: u64,
    shift: u32,
}

/// Why a ring's header was rejected.
#[derive(Debug)]
pub struct BadRing(pub String);

impl Ring {
    /// Builds a ring from values already validated by the caller.
    pub fn new(offset: u64, geometry: RingGeometry) -> Ring {
        Ring {
            offset,
            num_buffers: geometry.num_buffers,
            buffer_size: geometry.buffer_size,
            shift: geometry.num_buffers.trailing_zeros(),
        }
    }

    /// Reads and validates a ring header from an untrusted file of length `file_len`.
    pub fn from_file(map: &Mapping, offset: u64, file_len: u64) -> Result<Ring, BadRing> {
        if !offset.is_multiple_of(8) || offset.checked_add(RING_HEADER_SIZE).is_none_or(|e| e > file_len) {
            return Err(BadRing(format!("ring offset {offset} is outside the file ({file_len} bytes) or unaligned")));
        }
        let n = map.atomic_i64(offset + R_NUM_BUFFERS).load(Ordering::Acquire);
        let s = map.atomic_i64(offset + R_BUFFER_SIZE).load(Ordering::Acquire);
        if n <= 0 || (n as u64).count_ones() != 1 || n > (1 << 28) {
            return Err(BadRing(format!("ring at {offset}: num_buffers {n} is not a power of two in 1..2^28")));
        }
        if s <= 1 || s > (1 << 28) {
            return Err(BadRing(format!("ring at {offset}: buffer_size {s} is not in 2..2^28")));
        }
        let g = RingGeometry { num_buffers: n as u64, buffer_size: s as u64 };
        match offset.checked_add(g.byte_len()) {
            Some(end) if end <= file_len => Ok(Ring::new(offset, g)),
            _ => Err(BadRing(format!(
                "ring at {offset} ({n} x {s} B) runs past the end of the file ({file_len} bytes)"
            ))),
        }
    }

    /// Writes a fresh ring header (indices -1, availability all -1).
    pub fn init(map: &Mapping, offset: u64, g: RingGeometry) -> Ring {
        map.atomic_i64(offset + R_NUM_BUFFERS).store(g.num_buffers as i64, Ordering::Relaxed);
        map.atomic_i64(offset + R_BUFFER_SIZE).store(g.buffer_size as i64, Ordering::Relaxed);
        map.atomic_i64(offset + R_READER_INDEX).store(-1, Ordering::Relaxed);
        map.atomic_i64(offset + R_WRITER_INDEX).store(-1, Ordering::Relaxed);
        for k in 0..g.num_buffers {
            map.atomic_i32(offset + RING_HEADER_SIZE + 4 * k).store(-1, Ordering::Relaxed);
        }
        Ring::new(offset, g)
    }

    pub fn geometry(&self) -> RingGeometry {
        RingGeometry { num_buffers: self.num_buffers, buffer_size: self.buffer_size }
    }

    pub fn end(&self) -> u64 {
        self.offset + self.geometry().byte_len()
    }

    /// Largest message body a slot can hold.
    pub fn max_message_len(&self) -> usize {
        let s = self.buffer_size as usize;
        let mut body = s.saturating_sub(1);
        while body > 0 && varint_len(body as u64) + body > s {
            body -= 1;
        }
        body
    }

    #[inline]
    pub fn slot_offset(&self, seq: i64) -> u64 {
        let k = (seq as u64) & (self.num_buffers - 1);
        self.offset + RING_HEADER_SIZE + 4 * self.num_buffers + k * self.buffer_size
    }

    #[inline]
    fn avail_offset(&self, seq: i64) -> u64 {
        let k = (seq as u64) & (self.num_buffers - 1);
        self.offset + RING_HEADER_SIZE + 4 * k
    }

    #[inline]
    pub fn flag(&self, seq: i64) -> i32 {
        ((seq as u64) >> self.shift) as i32
    }

    pub fn reader_index(&self, map: &Mapping) -> i64 {
        map.atomic_i64(self.offset + R_READER_INDEX).load(Ordering::Acquire)
    }

    pub fn writer_index(&self, map: &Mapping) -> i64 {
        map.atomic_i64(self.offset + R_WRITER_INDEX).load(Ordering::Acquire)
    }

    // ---- producer ----

    /// Claims the next slot, or `None` when the ring holds N-1 unread messages.
    /// Never waits: a lost race retries at once, a full ring returns at once.
    #[inline]
    pub fn try_claim(&self, map: &Mapping) -> Option<i64> {
        let w = map.atomic_i64(self.offset + R_WRITER_INDEX);
        let r = map.atomic_i64(self.offset + R_READER_INDEX);
        loop {
            let cur = w.load(Ordering::Acquire);
            let rd = r.load(Ordering::Acquire);
            if cur + 1 - self.num_buffers as i64 >= rd {
                return None;
            }
            if w.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                return Some(cur + 1);
            }
        }
    }

    /// Writes `varint(len) + body` into the claimed slot and publishes it.
    #[inline]
    pub fn write_and_publish(&self, map: &Mapping, seq: i64, body: &[u8]) {
        let mut prefix = [0u8; 10];
        let n = crate::wire::encode::put_varint(&mut prefix, body.len() as u64);
        debug_assert!(n + body.len() <= self.buffer_size as usize);
        let off = self.slot_offset(seq);
        map.write_from(off, &prefix[..n]);
        map.write_from(off + n as u64, body);
        map.atomic_i32(self.avail_offset(seq)).store(self.flag(seq), Ordering::Release);
    }

    /// Writes `varint(total) + parts...` into the claimed slot and publishes it.
    #[inline]
    pub fn write_parts_and_publish(&self, map: &Mapping, seq: i64, parts: &[&[u8]]) {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut prefix = [0u8; 10];
        let n = crate::wire::encode::put_varint(&mut prefix, total as u64);
        assert!(n + total <= self.buffer_size as usize, "message of {total} bytes does not fit a {}-byte slot", self.buffer_size);
        let mut off = self.slot_offset(seq);
        map.write_from(off, &prefix[..n]);
        off += n as u64;
        for p in parts {
            map.write_from(off, p);
            off += p.len() as u64;
        }
        map.atomic_i32(self.avail_offset(seq)).store(self.flag(seq), Ordering::Release);
    }

    // ---- consumer ----

    /// The next sequence number if its slot is published.
    #[inline]
    pub fn next_readable(&self, map: &Mapping) -> Option<i64> {
        let next = self.reader_index(map) + 1;
        if map.atomic_i32(self.avail_offset(next)).load(Ordering::Acquire) == self.flag(next) {
            Some(next)
        } else {
            None
        }
    }

    /// Reads the record in `seq`'s slot: Ok(body bytes) or Err(reason) when the
    /// length prefix is malformed or does not fit the slot.
    pub fn read_record(&self, map: &Mapping, seq: i64, out: &mut Vec<u8>) -> Result<(), String> {
        let off = self.slot_offset(seq);
        let s = self.buffer_size as usize;
        let mut head = [0u8; 10];
        let hn = head.len().min(s);
        map.read_into(off, &mut head[..hn]);
        let (len, n) = crate::wire::decode::get_varint(&head[..hn])
            .ok_or_else(|| format!("slot {seq}: malformed length prefix"))?;
        if len > (s - n) as u64 {
            return Err(format!("slot {seq}: record length {len} exceeds the slot ({s} bytes)"));
        }
        out.clear();
        out.resize(len as usize, 0);
        map.read_into(off + n as u64, out);
        Ok(())
    }

    /// Marks everything up to and including `seq` as consumed.
    pub fn advance(&self, map: &Mapping, seq: i64) {
        map.atomic_i64(self.offset + R_READER_INDEX).store(seq, Ordering::Release);
    }

    /// True when `seq` is claimed (`<= writer_index`) but its slot is not published.
    pub fn is_claimed_unpublished(&self, map: &Mapping, seq: i64) -> bool {
        seq <= self.writer_index(map)
            && map.atomic_i32(self.avail_offset(seq)).load(Ordering::Acquire) != self.flag(seq)
    }
}
