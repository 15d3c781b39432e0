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

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.b.len() - self.pos
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
#[derive(Default)]
pub struct ValueEncoder {
    pub value_limit: usize,
    pub truncated: u64,
    /// Registered attribute sets (see [`ValueEncoder::register_set`]), by id; `None` once freed.
    sets: Vec<Option<AttrSet>>,
    /// Ids of freed sets, reused first.
    free_sets: Vec<u32>,
    /// Bytes the registered sets hold, their encodings included.
    set_bytes: usize,
}

/// In place of an attribute count: "a registered set", followed by its u32 id.
pub const SET_MARKER: u32 = u32::MAX;
/// In place of an attribute count: "two parts", each a count and its entries or a set marker and
/// its id, written as one list (the first part's attributes, then the second's).
pub const PARTS_MARKER: u32 = u32::MAX - 1;
/// Registered sets, and the bytes they may hold, at most (per recorder).
const MAX_SETS: usize = 4096;
const MAX_SET_BYTES: usize = 8 << 20;
/// Encodings kept per set (one per message field and value limit met).
const MAX_VARIANTS: usize = 8;

/// An attribute list the JS side encoded once (a frozen attributes object) and now names by id.
struct AttrSet {
    /// The list as the call buffer carries it (count, then the entries).
    js: Box<[u8]>,
    variants: Vec<SetVariant>,
}

/// A set's protobuf encoding for one field number and value limit.
struct SetVariant {
    field: u32,
    limit: usize,
    pb: Vec<u8>,
    ranges: Vec<(usize, usize)>,
    /// Values this encoding truncated: counted again at every use, as an encoding would.
    truncated: u64,
}

const MAX_VALUE_DEPTH: u32 = 16;

impl ValueEncoder {
    /// An encoder with no value limit and no registered sets.
    pub fn new() -> Self {
        ValueEncoder { value_limit: usize::MAX, ..ValueEncoder::default() }
    }

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
        if n == PARTS_MARKER {
            let first = args.u32()?;
            self.part(args, first, field, out, ranges)?;
            let second = args.u32()?;
            return self.part(args, second, field, out, ranges);
        }
        self.part(args, n, field, out, ranges)
    }

    /// One list (`n` entries, or a set's marker), appended to `out` and `ranges`.
    fn part(&mut self, args: &mut Args, n: u32, field: u32, out: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) -> Result<(), RecError> {
        match n {
            SET_MARKER => {
                let id = args.u32()? as usize;
                self.set_attributes(id, field, out, ranges)
            }
            PARTS_MARKER => Err(malformed()),
            _ => self.list(args, n, field, out, ranges),
        }
    }

    /// The `n` attributes that follow in `args`, as `attributes` writes them.
    fn list(&mut self, args: &mut Args, n: u32, field: u32, out: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) -> Result<(), RecError> {
        for _ in 0..n {
            let start = out.len();
            let mut enc = Enc::new(out);
            self.attribute_field(args, &mut enc, field)?;
            ranges.push((start, out.len()));
        }
        Ok(())
    }

    /// Registers an attribute list (a count and its entries, as the call buffer carries them, with
    /// every key interned) that later calls name by the returned id instead of carrying it. Each
    /// use then copies an encoding made once per field number and value limit. Returns `None`
    /// when the recorder holds as many sets as it may (the caller keeps sending the list).
    pub fn register_set(&mut self, js: &[u8]) -> Result<Option<u32>, RecError> {
        // Checked now, so that a use cannot fail on what was registered.
        let mut a = Args::new(js);
        let n = a.u32()?;
        if n == SET_MARKER || n == PARTS_MARKER {
            return Err(malformed());
        }
        let (limit, truncated) = (self.value_limit, self.truncated);
        self.value_limit = usize::MAX;
        let (mut out, mut ranges) = (Vec::new(), Vec::new());
        let checked = self.list(&mut a, n, 9, &mut out, &mut ranges);
        self.value_limit = limit;
        self.truncated = truncated;
        checked?;
        if a.remaining() != 0 {
            return Err(malformed());
        }
        if self.set_bytes + js.len() > MAX_SET_BYTES {
            return Ok(None);
        }
        let set = Some(AttrSet { js: js.into(), variants: Vec::new() });
        let id = if let Some(id) = self.free_sets.pop() {
            self.sets[id as usize] = set;
            id
        } else if self.sets.len() < MAX_SETS {
            self.sets.push(set);
            (self.sets.len() - 1) as u32
        } else {
            return Ok(None);
        };
        self.set_bytes += js.len();
        Ok(Some(id))
    }

    /// Frees registered set `id` (its owner is gone), so that a later registration can take its
    /// place. A later use of the id is refused as malformed until then. Returns whether `id` was
    /// a registered set.
    pub fn free_set(&mut self, id: u32) -> bool {
        let Some(slot) = self.sets.get_mut(id as usize) else { return false };
        let Some(set) = slot.take() else { return false };
        self.set_bytes -= set.js.len() + set.variants.iter().map(|v| v.pb.len()).sum::<usize>();
        self.free_sets.push(id);
        true
    }

    /// Registered sets not freed.
    pub fn live_sets(&self) -> usize {
        self.sets.len() - self.free_sets.len()
    }

    /// Writes registered set `id` as `attributes` would have written its list.
    /// Appends to `out` and `ranges` (a set may be the second of two parts).
    fn set_attributes(&mut self, id: usize, field: u32, out: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) -> Result<(), RecError> {
        let limit = self.value_limit;
        let (base, first_range) = (out.len(), ranges.len());
        let Some(Some(set)) = self.sets.get_mut(id) else { return Err(malformed()) };
        if let Some(v) = set.variants.iter().find(|v| v.field == field && v.limit == limit) {
            out.extend_from_slice(&v.pb);
            ranges.extend(v.ranges.iter().map(|&(a, b)| (a + base, b + base)));
            self.truncated += v.truncated;
            return Ok(());
        }
        let js = std::mem::take(&mut set.js);
        let mut a = Args::new(&js);
        let before = self.truncated;
        let done = a.u32().and_then(|n| self.list(&mut a, n, field, out, ranges));
        // The set is still there: nothing between the take and here frees one.
        let Some(Some(set)) = self.sets.get_mut(id) else { return Err(malformed()) };
        set.js = js;
        done?;
        let pb = &out[base..];
        if set.variants.len() < MAX_VARIANTS && self.set_bytes + pb.len() <= MAX_SET_BYTES {
            self.set_bytes += pb.len();
            let ranges = ranges[first_range..].iter().map(|&(a, b)| (a - base, b - base)).collect();
            set.variants.push(SetVariant { field, limit, pb: pb.to_vec(), ranges, truncated: self.truncated - before });
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
