//! `goro::fs`: file I/O from goroutines and plain threads, at GOMAXPROCS 1
//! and 4.
//!
//! Contents are checked byte for byte; goroutines and threads synchronise
//! by joins only.

mod common;

use common::with_procs;
use goro::fs::{self, File, OpenOptions};
use std::collections::BTreeMap;
use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Runs `body` at GOMAXPROCS 1 and 4.
fn at_1_and_4(body: impl Fn()) {
    for procs in [1, 4] {
        with_procs(procs, &body);
    }
}

/// Runs `f` in a goroutine and returns its value, re-raising its panic.
fn in_goroutine<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    goro::spawn(f)
        .join()
        .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
}

/// Runs `body` in a goroutine at GOMAXPROCS 1 and 4, each time with a fresh
/// directory tagged `tag`.
fn in_goroutine_with_dir(tag: &str, body: fn(&TempDir)) {
    at_1_and_4(|| {
        let dir = TempDir::new(tag);
        in_goroutine(move || body(&dir));
    });
}

/// A fresh directory under the system's temporary directory, removed with
/// its contents on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let path = std::env::temp_dir().join(format!("goro-fs-test-{tag}-{pid}-{n}"));
        std::fs::create_dir(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // A failure here only leaves a directory behind in the temp dir.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const GOROUTINES: usize = 32;
const FILES_EACH: usize = 8;
const FILES: usize = GOROUTINES * FILES_EACH;

/// The contents of file `i`: 0 to 99,999 bytes, a different length for
/// every file in the test (7919 is prime to 100,000), with a pattern that
/// depends on `i` and on the position.
fn contents(i: usize) -> Vec<u8> {
    let len = i * 7919 % 100_000;
    (0..len).map(|k| (k * 31 + k / 251 + i * 7) as u8).collect()
}

fn file_name(i: usize) -> String {
    format!("file-{i:03}")
}

/// Writes file `i`, one way or another depending on `i`, and returns its
/// length.
fn write_file(dir: &TempDir, i: usize) -> usize {
    let path = dir.join(&file_name(i));
    let bytes = contents(i);
    if i.is_multiple_of(2) {
        fs::write(path, &bytes).unwrap();
    } else {
        let mut file = File::create(path).unwrap();
        file.write_all(&bytes).unwrap();
        file.sync_data().unwrap();
    }
    bytes.len()
}

/// Reads file `i` back, one way or another depending on `i`, checks it and
/// returns its length.
fn check_file(dir: &TempDir, i: usize) -> usize {
    let path = dir.join(&file_name(i));
    let read = if i.is_multiple_of(3) {
        fs::read(path).unwrap()
    } else {
        let mut buf = Vec::new();
        File::open(path).unwrap().read_to_end(&mut buf).unwrap();
        buf
    };
    assert!(read == contents(i), "file {i} differs");
    read.len()
}

/// Runs `op` on every file index, `FILES_EACH` per goroutine, with the files
/// of each goroutine picked by `pick(goroutine, k)`; returns the sum of the
/// results.
fn on_all_files(
    dir: &Arc<TempDir>,
    pick: fn(usize, usize) -> usize,
    op: fn(&TempDir, usize) -> usize,
) -> usize {
    let handles: Vec<_> = (0..GOROUTINES)
        .map(|g| {
            let dir = dir.clone();
            goro::spawn(move || (0..FILES_EACH).map(|k| op(&dir, pick(g, k))).sum::<usize>())
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

#[test]
fn many_goroutines_write_and_read_back_many_files() {
    at_1_and_4(|| {
        let dir = Arc::new(TempDir::new("round-trip"));
        let expected: usize = (0..FILES).map(|i| contents(i).len()).sum();
        let written = on_all_files(&dir, |g, k| g * FILES_EACH + k, write_file);
        assert_eq!(written, expected);
        // Every file is read once, by a goroutine other than its writer.
        let read = on_all_files(&dir, |g, k| (k * GOROUTINES + g + 1) % FILES, check_file);
        assert_eq!(read, expected);
        let on_disk: u64 = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| fs::metadata(e.unwrap().path()).unwrap().len())
            .sum();
        assert_eq!(on_disk, expected as u64);
    });
}

#[test]
fn seek_moves_the_cursor_for_reads_and_writes() {
    in_goroutine_with_dir("seek", |dir| {
        let path = dir.join("f");
        let mut file = File::create_new(&path).unwrap();
        let mut expected: Vec<u8> = (0..=255).collect();
        file.write_all(&expected).unwrap();
        assert_eq!(file.stream_position().unwrap(), 256);

        assert_eq!(file.seek(SeekFrom::Start(10)).unwrap(), 10);
        let mut five = [0; 5];
        file.read_exact(&mut five).unwrap();
        assert_eq!(five, [10, 11, 12, 13, 14]);

        assert_eq!(file.seek(SeekFrom::Current(-3)).unwrap(), 12);
        file.write_all(b"xy").unwrap();
        expected[12..14].copy_from_slice(b"xy");

        assert_eq!(file.seek(SeekFrom::End(-2)).unwrap(), 254);
        let mut tail = Vec::new();
        file.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, [254, 255]);

        assert_eq!(file.seek(SeekFrom::End(4)).unwrap(), 260);
        file.write_all(b"z").unwrap();
        expected.extend_from_slice(&[0, 0, 0, 0, b'z']);
        assert_eq!(file.metadata().unwrap().len(), 261);

        file.rewind().unwrap();
        let mut all = Vec::new();
        file.read_to_end(&mut all).unwrap();
        assert_eq!(all, expected);

        file.set_len(100).unwrap();
        assert_eq!(file.stream_position().unwrap(), 261);
        assert_eq!(fs::read(&path).unwrap(), expected[..100]);
    });
}

#[test]
fn read_dir_lists_exactly_the_files_created() {
    at_1_and_4(|| {
        let dir = Arc::new(TempDir::new("read-dir"));
        let mut expected: BTreeMap<String, bool> =
            (0..100).map(|i| (file_name(i), false)).collect();
        let creators: Vec<_> = expected
            .keys()
            .map(|name| {
                let path = dir.join(name);
                goro::spawn(move || fs::write(&path, path.as_os_str().as_encoded_bytes()).unwrap())
            })
            .collect();
        creators.into_iter().for_each(|h| h.join().unwrap());
        fs::create_dir(dir.join("sub")).unwrap();
        expected.insert("sub".to_string(), true);

        let listed = in_goroutine({
            let dir = dir.clone();
            move || list(dir.path())
        });
        assert_eq!(listed, expected);
        assert_eq!(list(&dir.join("sub")), BTreeMap::new());
    });
}

/// The names in `dir`, each with whether it is a directory.
fn list(dir: &Path) -> BTreeMap<String, bool> {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let is_dir = entry.file_type().unwrap().is_dir();
            (entry.file_name().into_string().unwrap(), is_dir)
        })
        .collect()
}

/// Asserts that `ours` failed as std's `theirs` did, with `kind`.
fn same_error<T: std::fmt::Debug, U: std::fmt::Debug>(
    ours: std::io::Result<T>,
    theirs: std::io::Result<U>,
    kind: ErrorKind,
) {
    let (ours, theirs) = (ours.unwrap_err(), theirs.unwrap_err());
    assert_eq!(ours.kind(), kind);
    assert_eq!(ours.kind(), theirs.kind());
    assert_eq!(ours.raw_os_error(), theirs.raw_os_error());
}

#[test]
fn errors_are_std_errors() {
    in_goroutine_with_dir("errors", |dir| {
        let missing = dir.join("missing");
        let not_found = ErrorKind::NotFound;
        same_error(
            File::open(&missing),
            std::fs::File::open(&missing),
            not_found,
        );
        same_error(fs::read(&missing), std::fs::read(&missing), not_found);
        same_error(
            fs::metadata(&missing),
            std::fs::metadata(&missing),
            not_found,
        );
        same_error(
            fs::read_dir(&missing),
            std::fs::read_dir(&missing),
            not_found,
        );
        same_error(
            fs::remove_file(&missing),
            std::fs::remove_file(&missing),
            not_found,
        );
        assert!(!fs::exists(&missing).unwrap());

        let present = dir.join("present");
        fs::write(&present, "kept").unwrap();
        assert!(fs::exists(&present).unwrap());
        let exists = ErrorKind::AlreadyExists;
        let std_new = std::fs::File::create_new(&present);
        same_error(File::create_new(&present), std_new, exists);
        let ours = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&present);
        same_error(ours, std::fs::File::create_new(&present), exists);
        same_error(
            fs::create_dir(dir.path()),
            std::fs::create_dir(dir.path()),
            exists,
        );
        assert_eq!(fs::read_to_string(&present).unwrap(), "kept");

        fs::write(&present, [0xff, 0xfe]).unwrap();
        let invalid = std::fs::read_to_string(&present);
        same_error(
            fs::read_to_string(&present),
            invalid,
            ErrorKind::InvalidData,
        );
    });
}

#[test]
fn path_operations() {
    in_goroutine_with_dir("paths", |dir| {
        let a = dir.join("a");
        fs::write(&a, "alpha").unwrap();
        let (b, c) = (dir.join("b"), dir.join("c"));
        assert_eq!(fs::copy(&a, &b).unwrap(), 5);
        fs::rename(&b, &c).unwrap();
        assert!(!fs::exists(&b).unwrap());
        assert_eq!(fs::read_to_string(&c).unwrap(), "alpha");

        fs::hard_link(&a, dir.join("h")).unwrap();
        assert_eq!(fs::metadata(&a).unwrap().nlink(), 2);
        fs::remove_file(dir.join("h")).unwrap();
        assert_eq!(fs::metadata(&a).unwrap().nlink(), 1);

        let link = dir.join("link");
        std::os::unix::fs::symlink("a", &link).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("a"));
        assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
        assert!(fs::metadata(&link).unwrap().is_file());
        assert_eq!(
            fs::canonicalize(&link).unwrap(),
            fs::canonicalize(&a).unwrap()
        );

        fs::set_permissions(&a, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(
            fs::metadata(&a).unwrap().permissions().mode() & 0o777,
            0o640
        );

        let deep = dir.join("x/y/z");
        fs::create_dir_all(&deep).unwrap();
        fs::remove_dir(&deep).unwrap();
        fs::create_dir(&deep).unwrap();
        fs::write(deep.join("f"), "").unwrap();
        fs::remove_dir_all(dir.join("x")).unwrap();
        assert!(!fs::exists(dir.join("x")).unwrap());
    });
}

const WRITERS: usize = 8;
const RECORDS: usize = 200;

/// Appends `RECORDS` fixed-size lines "writer record" to `file`, one write
/// each.
fn append_records(mut file: &File, writer: usize) {
    for r in 0..RECORDS {
        file.write_all(format!("{writer:02} {r:04}\n").as_bytes())
            .unwrap();
    }
}

#[test]
fn one_file_shared_by_a_thread_and_goroutines() {
    at_1_and_4(|| {
        let dir = TempDir::new("shared");
        let path = dir.join("log");
        let file = File::options().append(true).create(true).open(&path);
        let file = Arc::new(file.unwrap());
        let thread = {
            let file = file.clone();
            std::thread::spawn(move || append_records(&file, WRITERS))
        };
        let goroutines: Vec<_> = (0..WRITERS)
            .map(|w| {
                let file = file.clone();
                goro::spawn(move || append_records(&file, w))
            })
            .collect();
        thread.join().unwrap();
        goroutines.into_iter().for_each(|h| h.join().unwrap());

        let log = in_goroutine(move || fs::read_to_string(path).unwrap());
        let mut next = [0; WRITERS + 1];
        for line in log.lines() {
            let (w, r) = line.split_once(' ').unwrap();
            let (w, r): (usize, usize) = (w.parse().unwrap(), r.parse().unwrap());
            assert_eq!(r, next[w], "writer {w}'s records out of order");
            next[w] += 1;
        }
        assert_eq!(next, [RECORDS; WRITERS + 1]);
    });
}

#[test]
fn a_file_moves_between_threads_and_goroutines() {
    at_1_and_4(|| {
        let dir = TempDir::new("handoff");
        let path = dir.join("f");
        let mut file = std::thread::spawn({
            let path = path.clone();
            move || {
                let mut file = File::create(path).unwrap();
                file.write_all(b"thread, ").unwrap();
                file
            }
        })
        .join()
        .unwrap();
        file = in_goroutine(move || {
            file.write_all(b"goroutine, ").unwrap();
            file
        });
        file.write_all(b"test thread").unwrap();
        file.sync_all().unwrap();
        drop(file);
        let read = std::thread::spawn(move || fs::read_to_string(path).unwrap());
        assert_eq!(read.join().unwrap(), "thread, goroutine, test thread");
    });
}

#[test]
fn shared_references_read_write_and_seek() {
    in_goroutine_with_dir("by-ref", |dir| {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(true);
        let file = options.open(dir.join("f")).unwrap();
        let mut w = &file;
        w.write_all(b"hello, ").unwrap();
        assert_eq!(w.write(b"world").unwrap(), 5);
        let pieces = [IoSlice::new(b"!"), IoSlice::new(b"\n")];
        assert_eq!(w.write_vectored(&pieces).unwrap(), 2);
        w.flush().unwrap();

        let mut r = &file;
        r.rewind().unwrap();
        let mut text = String::new();
        assert_eq!(r.read_to_string(&mut text).unwrap(), 14);
        assert_eq!(text, "hello, world!\n");

        r.seek(SeekFrom::Start(0)).unwrap();
        let (mut a, mut b) = ([0; 5], [0; 2]);
        let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
        assert_eq!(r.read_vectored(&mut bufs).unwrap(), 7);
        assert_eq!((&a, &b), (b"hello", b", "));
        let mut three = [0; 3];
        assert_eq!(r.read(&mut three).unwrap(), 3);
        assert_eq!(&three, b"wor");

        // A clone shares the cursor.
        let clone = file.try_clone().unwrap();
        let mut rest = String::new();
        (&clone).read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "ld!\n");
        assert_eq!(r.read(&mut three).unwrap(), 0);

        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .unwrap();
        assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    });
}

#[test]
fn conversions_keep_the_descriptor() {
    let dir = TempDir::new("convert");
    let path = dir.join("f");
    std::fs::write(&path, "descriptor").unwrap();
    let file = File::from(std::fs::File::open(&path).unwrap());
    let fd = file.as_raw_fd();
    assert_eq!(file.as_fd().as_raw_fd(), fd);
    assert_eq!(file.into_raw_fd(), fd);
    // SAFETY: `fd` was just given up by `into_raw_fd`; nothing else owns it.
    let file = unsafe { File::from_raw_fd(fd) };
    let mut std_file: std::fs::File = file.into();
    let mut first = [0; 4];
    std_file.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"desc");
    let mut rest = String::new();
    File::from(std_file)
        .into_std()
        .read_to_string(&mut rest)
        .unwrap();
    assert_eq!(rest, "riptor");
}
