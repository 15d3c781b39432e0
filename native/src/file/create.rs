//! Creating a new file (temporary name, then rename), attaching to an existing one,
//! and parsing/validating a file header.

use super::dict::Dictionary;
use super::layout::*;
use super::mapping::Mapping;
use super::ring::Ring;
use super::sys;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// Sizes chosen when creating a file.
#[derive(Clone, Copy, Debug)]
pub struct CreateOptions {
    pub events: RingGeometry,
    pub spans: RingGeometry,
    pub measurements: RingGeometry,
    pub initial_dictionary_bytes: u64,
    pub max_dictionary_bytes: u64,
    pub mode: u32,
}

/// Where everything is in a file.
#[derive(Clone, Copy, Debug)]
pub struct FileLayout {
    /// Indexed by [`RingKind::index`].
    pub rings: [Ring; 3],
    pub dict: Dictionary,
    pub start_time_unix_nano: u64,
}

impl FileLayout {
    pub fn ring(&self, kind: RingKind) -> &Ring {
        &self.rings[kind.index()]
    }

    /// Reads and validates the header of an untrusted file of `file_len` bytes.
    pub fn read(map: &Mapping, file_len: u64) -> Result<FileLayout, String> {
        if file_len < HEADER_SIZE {
            return Err(format!("file is {file_len} bytes, shorter than the 64-byte header"));
        }
        let version = map.atomic_i64(H_VERSION).load(Ordering::Acquire);
        if version != VERSION {
            return Err(format!("unsupported version {version} (this reader reads version 1)"));
        }
        let mut rings = Vec::with_capacity(3);
        for kind in RingKind::ALL {
            let off = map.atomic_i64(kind.header_field()).load(Ordering::Acquire);
            if off < HEADER_SIZE as i64 {
                return Err(format!("{} ring offset {off} points into the header", kind.name()));
            }
            rings.push(Ring::from_file(map, off as u64, file_len).map_err(|e| format!("{} ring: {}", kind.name(), e.0))?);
        }
        let d = map.atomic_i64(H_DICTIONARY).load(Ordering::Acquire);
        if d < HEADER_SIZE as i64 || d % 8 != 0 || d as u64 + DICT_HEADER_SIZE > file_len {
            return Err(format!("dictionary offset {d} is outside the file ({file_len} bytes) or unaligned"));
        }
        // Regions must not overlap one another or the header.
        let mut regions: Vec<(u64, u64, &str)> = rings.iter().zip(RingKind::ALL).map(|(r, k)| (r.offset, r.end(), k.name())).collect();
        regions.push((d as u64, d as u64 + DICT_HEADER_SIZE, "dictionary"));
        regions.sort();
        for w in regions.windows(2) {
            if w[0].1 > w[1].0 {
                return Err(format!("{} and {} overlap", w[0].2, w[1].2));
            }
        }
        let start = map.atomic_i64(H_START_TIME).load(Ordering::Acquire) as u64;
        Ok(FileLayout { rings: [rings[0], rings[1], rings[2]], dict: Dictionary { offset: d as u64 }, start_time_unix_nano: start })
    }

    /// Offset just past the rings, where the dictionary starts in files we create.
    fn plan(o: &CreateOptions) -> (u64, u64, u64, u64) {
        let ev = HEADER_SIZE;
        let sp = align8(ev + o.events.byte_len());
        let me = align8(sp + o.spans.byte_len());
        let di = align8(me + o.measurements.byte_len());
        (ev, sp, me, di)
    }
}

pub fn now_unix_nano() -> u64 {
    super::sys::realtime_nanos()
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let nonce = now_unix_nano() ^ ((std::process::id() as u64) << 32);
    path.with_file_name(format!(".{name}.{}.{:x}.tmp", std::process::id(), nonce))
}

/// Builds a complete file under a temporary name, takes the writer's shared lock,
/// then renames it over `path`. Returns the writable mapping and the layout.
pub fn create(path: &Path, o: &CreateOptions) -> io::Result<(Mapping, FileLayout)> {
    let (ev, sp, me, di) = FileLayout::plan(o);
    let limit = di + DICT_HEADER_SIZE + o.max_dictionary_bytes.max(o.initial_dictionary_bytes);
    // A whole number of blocks (see `FILE_ALIGN`), within the reservation.
    let initial_len = align_file(di + DICT_HEADER_SIZE + o.initial_dictionary_bytes).min(align8(limit));
    let tmp = temp_path(path);
    let file = OpenOptions::new().read(true).write(true).create_new(true).mode(o.mode).open(&tmp)?;
    // The umask may have narrowed the mode; set it exactly.
    let result = (|| {
        file.set_permissions(fs::Permissions::from_mode(o.mode))?;
        file.set_len(initial_len)?;
        sys::lock(file.as_raw_fd(), sys::LOCK_SH)?;
        let map = Mapping::new(file, align8(limit), true)?;
        map.set_safe_len(initial_len);
        map.atomic_i64(H_VERSION).store(VERSION, Ordering::Relaxed);
        map.atomic_i64(H_EVENTS).store(ev as i64, Ordering::Relaxed);
        map.atomic_i64(H_SPANS).store(sp as i64, Ordering::Relaxed);
        map.atomic_i64(H_MEASUREMENTS).store(me as i64, Ordering::Relaxed);
        map.atomic_i64(H_DICTIONARY).store(di as i64, Ordering::Relaxed);
        let rings = [Ring::init(&map, ev, o.events), Ring::init(&map, sp, o.spans), Ring::init(&map, me, o.measurements)];
        let dict = Dictionary::init(&map, di);
        let start = now_unix_nano();
        map.atomic_i64(H_START_TIME).store(start as i64, Ordering::Release);
        fs::rename(&tmp, path)?;
        Ok((map, FileLayout { rings, dict, start_time_unix_nano: start }))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Opens an existing file for writing (another writer created it), takes the
/// shared writer lock and validates the header.
pub fn attach(path: &Path, max_dictionary_bytes: u64) -> io::Result<(Mapping, FileLayout)> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    sys::lock(file.as_raw_fd(), sys::LOCK_SH)?;
    let len = file.metadata()?.len();
    // Read the header through a small mapping first to learn where the dictionary is.
    let probe = Mapping::new(file.try_clone()?, len.max(HEADER_SIZE), false)?;
    let layout = FileLayout::read(&probe, len).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    drop(probe);
    let limit = (layout.dict.offset + DICT_HEADER_SIZE + max_dictionary_bytes).max(len);
    let map = Mapping::new(file, align8(limit), true)?;
    Ok((map, layout))
}

/// Opens a file read-write for a reader (the consumer writes `reader_index`).
pub fn open_for_reading(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path)
}

/// The dictionary limit in the mapping: the reservation.
pub fn dictionary_limit(map: &Mapping) -> u64 {
    map.reserved()
}
