//! The call buffer: how the JS wrapper passes arguments to the recorder.
//!
//! Crossing Node-API once per value is the expensive part of a call, so the JS side
//! (`index.js`) validates the arguments and writes them into one reused buffer; the
//! native function receives only the recorder handle and reads the buffer with
//! [`Args`]. Layout (little-endian, no padding):
//!
//! * ref: `f64`; id: raw 16 or 8 bytes; time: `u8` (0 = now, 1 = given) + `u64`;
//! * string/bytes: `u32` length + bytes;
//! * attributes: `u32` count, then per attribute `f64` key ref + value;
//! * value: `u8` tag + payload (see [`Tag`]);
//! * span context: `u8` present, then 16 + 8 id bytes and `u32` flags.

use super::RecError;
use crate::file::layout::varint_len;
use crate::wire::encode::{Enc, WT_LEN};

/// Value tags in the call buffer.
pub struct Tag;
impl Tag {
    pub const STRING: u8 = 1;
    pub const BOOL: u8 = 2;
    /// An integral JS number, sent as f64.
    pub const INT_NUMBER: u8 = 3;
    pub const DOUBLE: u8 = 4;
    pub const BIGINT: u8 = 5;
    pub const BYTES: u8 = 6;
    pub const ARRAY: u8 = 7;
    pub const KVLIST: u8 = 8;
    pub const EMPTY: u8 = 9;
}

pub struct Args<'a> {
    b: &'a [u8],
    pos: usize,
}

fn malformed() -> RecError {
    RecError::type_error("internal error: malformed call buffer (otlp-mmap JS/native version mismatch?)".into())
}

/// A span context argument: `(trace_id, span_id, flags)`.
pub type SpanContextArg<'a> = (&'a [u8], &'a [u8], u32);

impl<'a> Args<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Args { b, pos: 0 }
    }

    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], RecError> {
        if n > self.b.len() - self.pos {
            return Err(malformed());
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Steps back `n` bytes (to re-read a tag on a slower path).
    #[inline]
    pub fn unread(&mut self, n: usize) {
        self.pos -= n;
    }

    #[inline]
    pub fn u8(&mut self) -> Result<u8, RecError> {
        Ok(self.take(1)?[0])
    }

    #[inline]
    pub fn u32(&mut self) -> Result<u32, RecError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    #[inline]
    pub fn i32(&mut self) -> Result<i32, RecError> {
        Ok(i32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    #[inline]
    pub fn u64(&mut self) -> Result<u64, RecError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    #[inline]
    pub fn i64(&mut self) -> Result<i64, RecError> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    #[inline]
    pub fn f64(&mut self) -> Result<f64, RecError> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    /// A dictionary reference (sent as f64 so any JS number round-trips).
    #[inline]
    pub fn reference(&mut self) -> Result<i64, RecError> {
        Ok(self.f64()? as i64)
    }

    #[inline]
    pub fn blob(&mut self) -> Result<&'a [u8], RecError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    #[inline]
    pub fn time(&mut self) -> Result<Option<u64>, RecError> {
        let mode = self.u8()?;
        let t = self.u64()?;
        Ok(if mode == 0 { None } else { Some(t) })
    }

    /// An optional span context: `(trace_id, span_id, flags)`.
    pub fn span_context(&mut self) -> Result<Option<SpanContextArg<'a>>, RecError> {
        if self.u8()? == 0 {
            return Ok(None);
        }
        let t = self.take(16)?;
        let s = self.take(8)?;
        let f = self.u32()?;
        Ok(Some((t, s, f)))
    }
}

/// Truncates `s` to at most `limit` bytes at a UTF-8 character boundary.
pub fn truncate_utf8(s: &[u8], limit: usize) -> &[u8] {
    if s.len() <= limit {
        return s;
    }
    let mut end = limit;
    // Step back over continuation bytes (10xxxxxx) so we cut before a character.
    while end > 0 && (s[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    &s[..end]
}

/// Encodes values from the call buffer into protobuf, truncating strings and
/// bytes longer than `value_limit`.
pub struct ValueEncoder {
    pub value_limit: usize,
    pub truncated: u64,
}

const MAX_VALUE_DEPTH: u32 = 16;

impl ValueEncoder {
    /// Truncates a string to the current value limit, counting a cut.
    pub fn truncate_counted<'a>(&mut self, s: &'a [u8]) -> &'a [u8] {
        let t = truncate_utf8(s, self.value_limit);
        if t.len() < s.len() {
            self.truncated += 1;
        }
        t
    }

    /// Reads one value and writes it as an `AnyValue` message body.
    pub fn any_value(&mut self, args: &mut Args, enc: &mut Enc, depth: u32) -> Result<(), RecError> {
        if depth > MAX_VALUE_DEPTH {
            return Err(malformed());
        }
        match args.u8()? {
            Tag::STRING => {
                let s = args.blob()?;
                let t = truncate_utf8(s, self.value_limit);
                if t.len() < s.len() {
                    self.truncated += 1;
                }
                enc.bytes_always(1, t);
            }
            Tag::BOOL => enc.bool_always(2, args.u8()? != 0),
            Tag::INT_NUMBER => enc.int64_always(3, args.f64()? as i64),
            Tag::DOUBLE => enc.double_always(4, args.f64()?),
            Tag::BIGINT => enc.int64_always(3, args.i64()?),
            Tag::BYTES => {
                let s = args.blob()?;
                let n = s.len().min(self.value_limit);
                if n < s.len() {
                    self.truncated += 1;
                }
                enc.bytes_always(7, &s[..n]);
            }
            Tag::ARRAY => {
                let n = args.u32()?;
                let start = enc.begin(5);
                for _ in 0..n {
                    let e = enc.begin(1);
                    self.any_value(args, enc, depth + 1)?;
                    enc.end(e);
                }
                enc.end(start);
            }
            Tag::KVLIST => {
                let n = args.u32()?;
                let start = enc.begin(6);
                for _ in 0..n {
                    let e = enc.begin(1);
                    self.key_value(args, enc, depth + 1)?;
                    enc.end(e);
                }
                enc.end(start);
            }
            Tag::EMPTY => {}
            _ => return Err(malformed()),
        }
        Ok(())
    }

    /// Reads `f64 key ref` + value and writes a `KeyValueRef` message body.
    #[inline]
    pub fn key_value(&mut self, args: &mut Args, enc: &mut Enc, depth: u32) -> Result<(), RecError> {
        let key = args.reference()?;
        enc.int64(1, key);
        let v = enc.begin(2);
        self.any_value(args, enc, depth)?;
        enc.end(v);
        Ok(())
    }

    /// Reads one attribute and appends it as a complete length-delimited field
    /// `field` holding a `KeyValueRef`. Scalars are sized up front (no shifting).
    #[inline]
    pub fn attribute_field(&mut self, args: &mut Args, enc: &mut Enc, field: u32) -> Result<(), RecError> {
        let key = args.reference()?;
        let key_len = if key == 0 { 0 } else { 1 + varint_len(key as u64) };
        let tag = args.u8()?;
        // Each arm computes the AnyValue body length, then writes everything in order.
        let (payload, scalar): (&[u8], u64) = match tag {
            Tag::STRING => {
                let s = args.blob()?;
                let t = truncate_utf8(s, self.value_limit);
                if t.len() < s.len() {
                    self.truncated += 1;
                }
                (t, 0)
            }
            Tag::BOOL => (&[], args.u8()? as u64),
            Tag::INT_NUMBER => (&[], (args.f64()? as i64) as u64),
            Tag::BIGINT => (&[], args.i64()? as u64),
            Tag::DOUBLE => (&[], args.f64()?.to_bits()),
            _ => {
                // Arrays, bytes and the rest: the general path.
                args.unread(1);
                let start = enc.begin(field);
                enc.int64(1, key);
                let v = enc.begin(2);
                self.any_value(args, enc, 0)?;
                enc.end(v);
                enc.end(start);
                return Ok(());
            }
        };
        let (any_tag, any_len) = match tag {
            Tag::STRING => (0x0a, 1 + varint_len(payload.len() as u64) + payload.len()),
            Tag::BOOL => (0x10, 2),
            Tag::INT_NUMBER | Tag::BIGINT => (0x18, 1 + varint_len(scalar)),
            _ => (0x21, 9),
        };
        let kv_len = key_len + 1 + varint_len(any_len as u64) + any_len;
        enc.tag(field, WT_LEN);
        enc.varint(kv_len as u64);
        if key != 0 {
            enc.buf.push(0x08);
            enc.varint(key as u64);
        }
        enc.buf.push(0x12);
        enc.varint(any_len as u64);
        enc.buf.push(any_tag);
        match tag {
            Tag::STRING => {
                enc.varint(payload.len() as u64);
                enc.buf.extend_from_slice(payload);
            }
            Tag::DOUBLE => enc.buf.extend_from_slice(&scalar.to_le_bytes()),
            _ => enc.varint(scalar),
        }
        Ok(())
    }

    /// Reads an attribute list into `out` as consecutive complete fields (number
    /// `field`, each a `KeyValueRef`), recording each field's byte range.
    pub fn attributes(&mut self, args: &mut Args, field: u32, out: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) -> Result<(), RecError> {
        out.clear();
        ranges.clear();
        let n = args.u32()?;
        for _ in 0..n {
            let start = out.len();
            let mut enc = Enc::new(out);
            self.attribute_field(args, &mut enc, field)?;
            ranges.push((start, out.len()));
        }
        Ok(())
    }
}

/// The bytes of the attribute fields `ranges` (contiguous, as `attributes` wrote them).
#[inline]
pub fn fields<'a>(attrs: &'a [u8], ranges: &[(usize, usize)]) -> &'a [u8] {
    match (ranges.first(), ranges.last()) {
        (Some(a), Some(b)) => &attrs[a.0..b.1],
        _ => &[],
    }
}
