//! The dictionary: a header followed by append-only `varint(len) + bytes` entries.
//!
//! `end` and `num_entries` are advanced atomically by writers (any process);
//! the drop counters are incremented by writers and read by anyone.

use super::layout::*;
use super::mapping::Mapping;
use std::io;
use std::sync::atomic::Ordering;

#[derive(Clone, Copy, Debug)]
pub struct Dictionary {
    pub offset: u64,
}

impl Dictionary {
    /// Writes a fresh dictionary header.
    pub fn init(map: &Mapping, offset: u64) -> Dictionary {
        map.atomic_i64(offset + D_END).store((offset + DICT_HEADER_SIZE) as i64, Ordering::Relaxed);
        for f in [D_NUM_ENTRIES, D_DROPPED[0], D_DROPPED[1], D_DROPPED[2]] {
            map.atomic_i64(offset + f).store(0, Ordering::Relaxed);
        }
        Dictionary { offset }
    }

    pub fn end(&self, map: &Mapping) -> i64 {
        map.atomic_i64(self.offset + D_END).load(Ordering::Acquire)
    }

    pub fn num_entries(&self, map: &Mapping) -> i64 {
        map.atomic_i64(self.offset + D_NUM_ENTRIES).load(Ordering::Acquire)
    }

    pub fn dropped(&self, map: &Mapping, ring: RingKind) -> i64 {
        map.atomic_i64(self.offset + D_DROPPED[ring.index()]).load(Ordering::Acquire)
    }

    pub fn count_drop(&self, map: &Mapping, ring: RingKind) {
        map.atomic_i64(self.offset + D_DROPPED[ring.index()]).fetch_add(1, Ordering::AcqRel);
    }

    /// Appends one entry and returns its reference. `limit` is the largest file
    /// offset the entry may reach; the file is grown (never shrunk) as needed.
    pub fn append(&self, map: &Mapping, bytes: &[u8], limit: u64) -> io::Result<DictRef> {
        let mut prefix = [0u8; 10];
        let n = crate::wire::encode::put_varint(&mut prefix, bytes.len() as u64);
        let total = (n + bytes.len()) as i64;
        let end = map.atomic_i64(self.offset + D_END);
        let start = loop {
            let cur = end.load(Ordering::Acquire);
            let new_end = cur + total;
            if new_end as u64 > limit {
                return Err(io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!("the dictionary is full ({limit} bytes); raise maxDictionaryBytes"),
                ));
            }
            if end.compare_exchange(cur, new_end, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                break cur as u64;
            }
        };
        let need = start + total as u64;
        map.ensure_len(start, need)?;
        map.write_from(start, &prefix[..n]);
        map.write_from(start + n as u64, bytes);
        map.atomic_i64(self.offset + D_NUM_ENTRIES).fetch_add(1, Ordering::AcqRel);
        Ok(DictRef(start as i64))
    }

    /// Reads the entry at `r` from an untrusted file, checking every bound:
    /// the entry must lie inside `[dictionary data, end)` and inside the file.
    pub fn read_entry(&self, map: &Mapping, r: DictRef, file_len: u64, max_len: usize, out: &mut Vec<u8>) -> Result<(), String> {
        let data_start = self.offset + DICT_HEADER_SIZE;
        let end = (self.end(map).max(0) as u64).min(file_len).min(map.reserved());
        if r.0 < data_start as i64 || r.0 as u64 >= end {
            return Err(format!("dictionary reference {} is outside the dictionary [{data_start}, {end})", r.0));
        }
        let off = r.0 as u64;
        let mut head = [0u8; 10];
        let hn = ((end - off) as usize).min(10);
        map.read_into(off, &mut head[..hn]);
        let (len, n) = crate::wire::decode::get_varint(&head[..hn])
            .ok_or_else(|| format!("dictionary entry {}: malformed length", r.0))?;
        if len > max_len as u64 || off + n as u64 + len > end {
            return Err(format!("dictionary entry {}: length {len} runs past the dictionary end {end} or the limit {max_len}", r.0));
        }
        out.clear();
        out.resize(len as usize, 0);
        map.read_into(off + n as u64, out);
        Ok(())
    }
}
