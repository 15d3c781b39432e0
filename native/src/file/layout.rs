//! Byte layout of a v1 file. All integers are little-endian.

/// Size of the file header.
pub const HEADER_SIZE: u64 = 64;
/// Size of a ring header (num_buffers, buffer_size, reader_index, writer_index).
pub const RING_HEADER_SIZE: u64 = 32;
/// Size of the dictionary header.
pub const DICT_HEADER_SIZE: u64 = 64;
/// The only version this crate writes and reads.
pub const VERSION: i64 = 1;

// File header fields.
pub const H_VERSION: u64 = 0;
pub const H_EVENTS: u64 = 8;
pub const H_SPANS: u64 = 16;
pub const H_MEASUREMENTS: u64 = 24;
pub const H_DICTIONARY: u64 = 32;
pub const H_START_TIME: u64 = 40;

// Ring header fields.
pub const R_NUM_BUFFERS: u64 = 0;
pub const R_BUFFER_SIZE: u64 = 8;
pub const R_READER_INDEX: u64 = 16;
pub const R_WRITER_INDEX: u64 = 24;

// Dictionary header fields.
pub const D_END: u64 = 0;
pub const D_NUM_ENTRIES: u64 = 8;
/// [ours] drop counters, indexed by [`RingKind::index`].
pub const D_DROPPED: [u64; 3] = [16, 24, 32];

/// An absolute byte offset into the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileOffset(pub u64);

/// A reference to a dictionary entry: the absolute offset of its length varint.
/// `DictRef(0)` means "none" (the empty string where a string is expected).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct DictRef(pub i64);

impl DictRef {
    pub const NONE: DictRef = DictRef(0);
    pub fn is_none(self) -> bool {
        self.0 == 0
    }
}

/// The three rings, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RingKind {
    Events,
    Spans,
    Measurements,
}

impl RingKind {
    pub const ALL: [RingKind; 3] = [RingKind::Events, RingKind::Spans, RingKind::Measurements];
    pub fn index(self) -> usize {
        match self {
            RingKind::Events => 0,
            RingKind::Spans => 1,
            RingKind::Measurements => 2,
        }
    }
    pub fn header_field(self) -> u64 {
        match self {
            RingKind::Events => H_EVENTS,
            RingKind::Spans => H_SPANS,
            RingKind::Measurements => H_MEASUREMENTS,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            RingKind::Events => "events",
            RingKind::Spans => "spans",
            RingKind::Measurements => "measurements",
        }
    }
}

/// Geometry of one ring: `num_buffers` slots of `buffer_size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingGeometry {
    pub num_buffers: u64,
    pub buffer_size: u64,
}

impl RingGeometry {
    /// Total bytes: header, availability array, slots.
    pub fn byte_len(&self) -> u64 {
        RING_HEADER_SIZE + 4 * self.num_buffers + self.num_buffers * self.buffer_size
    }
}

/// Number of bytes a protobuf varint of `v` takes.
pub const fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Rounds `v` up to a multiple of 8.
pub const fn align8(v: u64) -> u64 {
    (v + 7) & !7
}

/// Files are created and grown to multiples of this (64 KiB: a whole number of
/// pages and filesystem blocks on every common system), so growing a file never
/// zeroes the tail of a partial last block that a writer may already be using.
pub const FILE_ALIGN: u64 = 1 << 16;

/// `v` rounded up to a multiple of [`FILE_ALIGN`].
pub const fn align_file(v: u64) -> u64 {
    v.saturating_add(FILE_ALIGN - 1) & !(FILE_ALIGN - 1)
}
