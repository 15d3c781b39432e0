//! A small protobuf writer. Messages are appended to a reused `Vec<u8>`; nested
//! messages are written in place and their length prefix inserted afterwards.

pub const WT_VARINT: u32 = 0;
pub const WT_I64: u32 = 1;
pub const WT_LEN: u32 = 2;
pub const WT_I32: u32 = 5;

/// Writes `v` as a varint into `out`, returning the byte count (at most 10).
#[inline]
pub fn put_varint(out: &mut [u8], mut v: u64) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        out[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
    i + 1
}

/// Appends protobuf fields to a buffer.
pub struct Enc<'a> {
    pub buf: &'a mut Vec<u8>,
}

impl<'a> Enc<'a> {
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Enc { buf }
    }

    #[inline(always)]
    pub fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    #[inline(always)]
    pub fn tag(&mut self, field: u32, wt: u32) {
        self.varint(((field << 3) | wt) as u64);
    }

    /// int64/int32/enum field (omitted when zero, as proto3 does).
    #[inline]
    pub fn int64(&mut self, field: u32, v: i64) {
        if v != 0 {
            self.tag(field, WT_VARINT);
            self.varint(v as u64);
        }
    }

    /// int64 field written even when zero (inside a oneof).
    #[inline]
    pub fn int64_always(&mut self, field: u32, v: i64) {
        self.tag(field, WT_VARINT);
        self.varint(v as u64);
    }

    #[inline]
    pub fn uint32(&mut self, field: u32, v: u32) {
        if v != 0 {
            self.tag(field, WT_VARINT);
            self.varint(v as u64);
        }
    }

    #[inline]
    pub fn bool_always(&mut self, field: u32, v: bool) {
        self.tag(field, WT_VARINT);
        self.varint(v as u64);
    }

    #[inline]
    pub fn bool(&mut self, field: u32, v: bool) {
        if v {
            self.bool_always(field, v);
        }
    }

    #[inline]
    pub fn fixed32(&mut self, field: u32, v: u32) {
        if v != 0 {
            self.tag(field, WT_I32);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    #[inline]
    pub fn fixed64(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.tag(field, WT_I64);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    #[inline]
    pub fn double_always(&mut self, field: u32, v: f64) {
        self.tag(field, WT_I64);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    #[inline(always)]
    pub fn bytes_always(&mut self, field: u32, v: &[u8]) {
        self.tag(field, WT_LEN);
        self.varint(v.len() as u64);
        self.buf.extend_from_slice(v);
    }

    /// bytes/string field (omitted when empty).
    #[inline]
    pub fn bytes(&mut self, field: u32, v: &[u8]) {
        if !v.is_empty() {
            self.bytes_always(field, v);
        }
    }

    /// Starts a nested message; pass the result to [`Enc::end`].
    #[inline]
    pub fn begin(&mut self, field: u32) -> usize {
        self.tag(field, WT_LEN);
        self.buf.len()
    }

    /// Finishes a nested message begun at `start` by inserting its length.
    #[inline]
    pub fn end(&mut self, start: usize) {
        let len = self.buf.len() - start;
        let mut tmp = [0u8; 10];
        let n = put_varint(&mut tmp, len as u64);
        if n == 1 {
            self.buf.insert(start, tmp[0]);
        } else {
            self.buf.splice(start..start, tmp[..n].iter().copied());
        }
    }
}
