//! Growing the dictionary while other writers grow the file.

use super::create::{self, CreateOptions};
use super::layout::{RingGeometry, FILE_ALIGN};
use super::mapping::Mapping;
use super::DictRef;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

const WRITERS: usize = 4;
const ENTRIES: usize = 400;
const ROUNDS: usize = 300;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("otlp-mmap-file-rs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

fn options(slots: u64, slot: u64) -> CreateOptions {
    let g = RingGeometry { num_buffers: slots, buffer_size: slot };
    CreateOptions { events: g, spans: g, measurements: g, initial_dictionary_bytes: 4096, max_dictionary_bytes: 64 << 20, mode: 0o600 }
}

fn entry(w: usize, i: usize) -> Vec<u8> {
    let mut e = format!("writer {w} entry {i} ").into_bytes();
    e.resize(40 + i % 23, b'a' + w as u8);
    e
}

/// `WRITERS` threads, each attached with its own mapping, start appending at once to
/// a file whose length ends inside a block (as another implementation might leave
/// it), and grow it to such lengths too. Each growth zeroes the rest of the old last
/// block, where a writer that trusted `fstat` may already have written. Returns the
/// entries that do not read back as written.
fn race(path: &Path, no_fallocate: bool) -> Vec<(usize, usize, i64)> {
    // Large (sparse) rings: the file starts at ~3 MB, so doubling it is a long `fallocate`.
    let (creator, layout) = create::create(path, &options(1024, 1024)).unwrap();
    let len = creator.file_len().unwrap();
    creator.file().set_len(len + 1001).unwrap();
    let start = Arc::new(Barrier::new(WRITERS));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (path, start) = (path.to_path_buf(), start.clone());
            std::thread::spawn(move || {
                let (mut map, layout) = create::attach(&path, 64 << 20).unwrap();
                map.no_fallocate = no_fallocate;
                map.grow_unaligned = true;
                let limit = create::dictionary_limit(&map);
                start.wait();
                (0..ENTRIES).map(|i| layout.dict.append(&map, &entry(w, i), limit).unwrap()).collect::<Vec<DictRef>>()
            })
        })
        .collect();
    let refs: Vec<Vec<DictRef>> = writers.into_iter().map(|t| t.join().unwrap()).collect();
    let reader = Mapping::new(std::fs::File::open(path).unwrap(), creator.reserved(), false).unwrap();
    let file_len = reader.file_len().unwrap();
    let mut wrong = Vec::new();
    let mut out = Vec::new();
    for (w, refs) in refs.iter().enumerate() {
        for (i, r) in refs.iter().enumerate() {
            let ok = layout.dict.read_entry(&reader, *r, file_len, 1 << 20, &mut out).is_ok() && out == entry(w, i);
            if !ok {
                wrong.push((w, i, r.0));
            }
        }
    }
    assert_eq!(layout.dict.num_entries(&reader), (WRITERS * ENTRIES) as i64);
    drop(creator);
    std::fs::remove_file(path).unwrap();
    wrong
}

fn races(name: &str, no_fallocate: bool) {
    let path = temp(name);
    let mut bad = Vec::new();
    for round in 0..ROUNDS {
        let wrong = race(&path, no_fallocate);
        if !wrong.is_empty() {
            bad.push((round, wrong.len(), wrong[0]));
        }
    }
    assert!(bad.is_empty(), "rounds with entries read back wrong (round, how many, first (writer, entry, ref)): {bad:?}");
}

/// Fails within a few hundred rounds when writers trust `fstat` instead (checked).
#[test]
fn entries_survive_concurrent_growth_with_fallocate() {
    races("grow-fallocate.mmap", false);
}

/// The fallback path. Growth by `pwrite` zeroes the old block's tail before it
/// publishes the new length, so this checks that the path works, not the race.
#[test]
fn entries_survive_concurrent_growth_without_fallocate() {
    races("grow-pwrite.mmap", true);
}

#[test]
fn files_are_created_and_grown_to_whole_blocks_and_never_shrink() {
    let path = temp("grow-aligned.mmap");
    let (map, layout) = create::create(&path, &options(16, 256)).unwrap();
    let limit = create::dictionary_limit(&map);
    let mut lens = vec![map.file_len().unwrap()];
    for i in 0..20_000 {
        layout.dict.append(&map, &entry(0, i), limit).unwrap();
        let len = map.file_len().unwrap();
        if len != *lens.last().unwrap() {
            lens.push(len);
        }
    }
    assert!(lens.len() > 2, "the file grew: {lens:?}");
    assert!(lens.windows(2).all(|w| w[1] > w[0]), "never shrinks: {lens:?}");
    assert!(lens.iter().all(|l| l % FILE_ALIGN == 0), "whole blocks: {lens:?}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn realtime_nanos_reads_the_system_clock() {
    use std::time::{SystemTime, UNIX_EPOCH};
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let t = super::sys::realtime_nanos();
    let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    assert!(before <= t && t <= after, "{before} <= {t} <= {after}");
}
