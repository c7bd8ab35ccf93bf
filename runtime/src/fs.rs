//! File-system access for goroutines: `std::fs`'s common API, with every
//! call that touches the file system run through [`blocking`](fn@crate::blocking).
//!
//! # Why files take the blocking path
//! The kernel says when a socket or a pipe is ready, so a poller can park a
//! goroutine until it is. Regular files have no such state: `poll` and `select`
//! always report them readable and writable, and `epoll` refuses them
//! outright, yet a read may still wait for the disk (or an NFS server) for a
//! long time. A poller has nothing to offer, so Go runs file I/O as plain
//! system calls, each one announced to the scheduler, whose monitor hands the
//! processor's other goroutines to another thread when a call blocks for
//! long. goro does the same: each function and method here is one
//! [`blocking`](fn@crate::blocking) call around its `std::fs` counterpart.
//!
//! What you get: std's names, types and errors (the same [`io::Error`]s with
//! the same [`io::ErrorKind`]s and OS codes), and a goroutine waiting on the
//! disk never stalls the other goroutines of its worker. A quick call costs a
//! little more than std's; from a plain OS thread everything behaves exactly
//! as `std::fs`.
//!
//! | here | std | Go |
//! |---|---|---|
//! | [`read`], [`read_to_string`], [`write()`] | same | `os.ReadFile`, `os.WriteFile` |
//! | [`File`] ([`open`](File::open), [`create`](File::create), [`create_new`](File::create_new)) | `File` | `os.File` (`os.Open`, `os.Create`) |
//! | [`OpenOptions`] | `OpenOptions` | `os.OpenFile`'s flags |
//! | [`read_dir`] → [`ReadDir`] | same | `os.ReadDir` |
//! | [`metadata`], [`symlink_metadata`], [`exists`] | same | `os.Stat`, `os.Lstat` |
//! | [`copy`], [`rename`], [`hard_link`], [`read_link`], [`canonicalize`] | same | `io.Copy` between files, `os.Rename`, `os.Link`, `os.Readlink`, `filepath.EvalSymlinks` |
//! | [`create_dir`], [`create_dir_all`], [`remove_file`], [`remove_dir`], [`remove_dir_all`] | same | `os.Mkdir`, `os.MkdirAll`, `os.Remove`, `os.RemoveAll` |
//! | [`set_permissions`] | same | `os.Chmod` |
//!
//! [`DirEntry`], [`Metadata`], [`Permissions`] and [`FileType`] are std's.
//! Their methods read values already fetched, except [`DirEntry::metadata`]
//! (and [`DirEntry::file_type`] on file systems whose listings omit types),
//! which run a `stat` directly; pass [`DirEntry::path`] to [`metadata`] or
//! [`symlink_metadata`] to take the blocking path instead.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("goro-fs-doc-module-{}", std::process::id()));
//! goro::fs::create_dir_all(&dir)?;
//! let handles: Vec<_> = (0..8)
//!     .map(|i| {
//!         let path = dir.join(format!("{i}.txt"));
//!         goro::spawn(move || -> std::io::Result<String> {
//!             goro::fs::write(&path, format!("file {i}"))?;
//!             goro::fs::read_to_string(&path)
//!         })
//!     })
//!     .collect();
//! for (i, handle) in handles.into_iter().enumerate() {
//!     assert_eq!(handle.join().unwrap()?, format!("file {i}"));
//! }
//! goro::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use crate::blocking::blocking;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, RawFd};
use std::path::{Path, PathBuf};

pub use std::fs::{DirEntry, FileType, Metadata, Permissions};

/// Reads the whole file at `path` into a byte vector ([`std::fs::read`]).
///
/// ```
/// let path = std::env::temp_dir().join(format!("goro-fs-doc-read-{}", std::process::id()));
/// std::fs::write(&path, b"bytes")?;
/// assert_eq!(goro::fs::read(&path)?, b"bytes");
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[track_caller]
pub fn read<P: AsRef<Path>>(path: P) -> io::Result<Vec<u8>> {
    let path = path.as_ref();
    blocking(|| std::fs::read(path))
}

/// Reads the whole file at `path` into a string; a file that is not UTF-8 is
/// an [`io::ErrorKind::InvalidData`] error ([`std::fs::read_to_string`]).
///
/// ```
/// let path = std::env::temp_dir().join(format!("goro-fs-doc-read-string-{}", std::process::id()));
/// std::fs::write(&path, "text")?;
/// assert_eq!(goro::fs::read_to_string(&path)?, "text");
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[track_caller]
pub fn read_to_string<P: AsRef<Path>>(path: P) -> io::Result<String> {
    let path = path.as_ref();
    blocking(|| std::fs::read_to_string(path))
}

/// Writes `contents` as the whole file at `path`, creating it or replacing
/// what it held ([`std::fs::write`]).
///
/// ```
/// let path = std::env::temp_dir().join(format!("goro-fs-doc-write-{}", std::process::id()));
/// goro::fs::write(&path, "first")?;
/// goro::fs::write(&path, b"second")?;
/// assert_eq!(std::fs::read_to_string(&path)?, "second");
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[track_caller]
pub fn write<P: AsRef<Path>, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
    let path = path.as_ref();
    let contents = contents.as_ref();
    blocking(|| std::fs::write(path, contents))
}

/// Copies the contents and permissions of the file `from` to `to`, and
/// returns the number of bytes copied ([`std::fs::copy`]).
///
/// ```
/// let dir = std::env::temp_dir();
/// let from = dir.join(format!("goro-fs-doc-copy-from-{}", std::process::id()));
/// let to = dir.join(format!("goro-fs-doc-copy-to-{}", std::process::id()));
/// std::fs::write(&from, "copied")?;
/// assert_eq!(goro::fs::copy(&from, &to)?, 6);
/// assert_eq!(std::fs::read_to_string(&to)?, "copied");
/// std::fs::remove_file(&from)?;
/// std::fs::remove_file(&to)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[track_caller]
pub fn copy<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<u64> {
    let from = from.as_ref();
    let to = to.as_ref();
    blocking(|| std::fs::copy(from, to))
}

/// Renames `from` to `to`, replacing `to` if it is a file
/// ([`std::fs::rename`]).
#[track_caller]
pub fn rename<P: AsRef<Path>, Q: AsRef<Path>>(from: P, to: Q) -> io::Result<()> {
    let from = from.as_ref();
    let to = to.as_ref();
    blocking(|| std::fs::rename(from, to))
}

/// Removes the file (or symbolic link) at `path` ([`std::fs::remove_file`]).
#[track_caller]
pub fn remove_file<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    blocking(|| std::fs::remove_file(path))
}

/// Removes the empty directory at `path` ([`std::fs::remove_dir`]).
#[track_caller]
pub fn remove_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    blocking(|| std::fs::remove_dir(path))
}

/// Removes the directory at `path` with everything in it
/// ([`std::fs::remove_dir_all`]).
#[track_caller]
pub fn remove_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    blocking(|| std::fs::remove_dir_all(path))
}

/// Creates the directory `path`; its parent must exist
/// ([`std::fs::create_dir`]).
#[track_caller]
pub fn create_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    blocking(|| std::fs::create_dir(path))
}

/// Creates the directory `path` and any missing parents; a directory that
/// already exists is not an error ([`std::fs::create_dir_all`]).
#[track_caller]
pub fn create_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    let path = path.as_ref();
    blocking(|| std::fs::create_dir_all(path))
}

/// The metadata of `path`, following symbolic links ([`std::fs::metadata`]).
///
/// ```
/// let path = std::env::temp_dir().join(format!("goro-fs-doc-metadata-{}", std::process::id()));
/// std::fs::write(&path, "four")?;
/// let meta = goro::fs::metadata(&path)?;
/// assert!(meta.is_file());
/// assert_eq!(meta.len(), 4);
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[track_caller]
pub fn metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    let path = path.as_ref();
    blocking(|| std::fs::metadata(path))
}

/// The metadata of `path` itself, not of what a symbolic link points to
/// ([`std::fs::symlink_metadata`]).
#[track_caller]
pub fn symlink_metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    let path = path.as_ref();
    blocking(|| std::fs::symlink_metadata(path))
}

/// The absolute form of `path`, with symbolic links resolved
/// ([`std::fs::canonicalize`]).
#[track_caller]
pub fn canonicalize<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    let path = path.as_ref();
    blocking(|| std::fs::canonicalize(path))
}

/// Opens the directory `path` for listing ([`std::fs::read_dir`]); each step
/// of the returned [`ReadDir`] reads the directory through the blocking path
/// too.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("goro-fs-doc-read-dir-{}", std::process::id()));
/// std::fs::create_dir(&dir)?;
/// std::fs::write(dir.join("a"), "")?;
/// std::fs::write(dir.join("b"), "")?;
/// let mut names = goro::fs::read_dir(&dir)?
///     .map(|entry| entry.map(|e| e.file_name()))
///     .collect::<std::io::Result<Vec<_>>>()?;
/// names.sort();
/// assert_eq!(names, ["a", "b"]);
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[track_caller]
pub fn read_dir<P: AsRef<Path>>(path: P) -> io::Result<ReadDir> {
    let path = path.as_ref();
    blocking(|| std::fs::read_dir(path)).map(ReadDir)
}

/// Sets the permissions of `path`, following symbolic links
/// ([`std::fs::set_permissions`]).
#[track_caller]
pub fn set_permissions<P: AsRef<Path>>(path: P, perm: Permissions) -> io::Result<()> {
    let path = path.as_ref();
    blocking(|| std::fs::set_permissions(path, perm))
}

/// Makes `link` a new name (a hard link) for the file `original`
/// ([`std::fs::hard_link`]).
#[track_caller]
pub fn hard_link<P: AsRef<Path>, Q: AsRef<Path>>(original: P, link: Q) -> io::Result<()> {
    let original = original.as_ref();
    let link = link.as_ref();
    blocking(|| std::fs::hard_link(original, link))
}

/// The target a symbolic link points to ([`std::fs::read_link`]).
#[track_caller]
pub fn read_link<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    let path = path.as_ref();
    blocking(|| std::fs::read_link(path))
}

/// Whether `path` exists, following symbolic links; unlike
/// [`Path::exists`], an error to find out (such as a permission error) is
/// returned rather than taken for "no" ([`std::fs::exists`], a.k.a.
/// [`Path::try_exists`]).
///
/// ```
/// let path = std::env::temp_dir().join(format!("goro-fs-doc-exists-{}", std::process::id()));
/// assert!(!goro::fs::exists(&path)?);
/// std::fs::write(&path, "")?;
/// assert!(goro::fs::exists(&path)?);
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[track_caller]
pub fn exists<P: AsRef<Path>>(path: P) -> io::Result<bool> {
    let path = path.as_ref();
    blocking(|| std::fs::exists(path))
}

/// The entries of a directory, from [`read_dir`]: each [`next`](Self::next)
/// reads the directory through the blocking path. The order is the file
/// system's, and `.` and `..` are left out.
#[derive(Debug)]
pub struct ReadDir(std::fs::ReadDir);

impl Iterator for ReadDir {
    type Item = io::Result<DirEntry>;

    #[track_caller]
    fn next(&mut self) -> Option<io::Result<DirEntry>> {
        blocking(|| self.0.next())
    }
}

/// An open file: [`std::fs::File`] with every operation run through the
/// blocking path.
///
/// [`Read`], [`Write`] and [`Seek`] are implemented for `File` and for
/// `&File`, as std does, so one file can be shared (for instance in an
/// `Arc`) by goroutines and threads; the cursor is the file's, shared by all
/// of them and by [`try_clone`](Self::try_clone)s.
///
/// ```
/// use std::io::{Read, Seek, Write};
///
/// let path = std::env::temp_dir().join(format!("goro-fs-doc-file-{}", std::process::id()));
/// let mut file = goro::fs::File::options()
///     .read(true)
///     .write(true)
///     .create_new(true)
///     .open(&path)?;
/// file.write_all(b"hello")?;
/// file.rewind()?;
/// let mut text = String::new();
/// file.read_to_string(&mut text)?;
/// assert_eq!(text, "hello");
/// goro::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct File {
    inner: std::fs::File,
}

impl File {
    /// Opens the file at `path` read-only ([`std::fs::File::open`]).
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// let path = std::env::temp_dir().join(format!("goro-fs-doc-open-{}", std::process::id()));
    /// std::fs::write(&path, "opened")?;
    /// let mut text = String::new();
    /// goro::fs::File::open(&path)?.read_to_string(&mut text)?;
    /// assert_eq!(text, "opened");
    /// assert!(goro::fs::File::open(path.with_extension("missing")).is_err());
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new().read(true).open(path)
    }

    /// Opens the file at `path` write-only, creating it or truncating what
    /// it held ([`std::fs::File::create`]).
    ///
    /// ```
    /// use std::io::Write;
    ///
    /// let path = std::env::temp_dir().join(format!("goro-fs-doc-create-{}", std::process::id()));
    /// goro::fs::File::create(&path)?.write_all(b"created")?;
    /// assert_eq!(std::fs::read_to_string(&path)?, "created");
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    }

    /// Creates the file at `path` and opens it for reading and writing; if
    /// anything already exists there, fails with
    /// [`io::ErrorKind::AlreadyExists`] ([`std::fs::File::create_new`]).
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("goro-fs-doc-create-new-{}", std::process::id()));
    /// goro::fs::File::create_new(&path)?;
    /// let again = goro::fs::File::create_new(&path).unwrap_err();
    /// assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create_new<P: AsRef<Path>>(path: P) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
    }

    /// A blank [`OpenOptions`] to open a file with
    /// ([`std::fs::File::options`]).
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Flushes the file's data and metadata to the device
    /// ([`std::fs::File::sync_all`]).
    pub fn sync_all(&self) -> io::Result<()> {
        self.io(|f| f.sync_all())
    }

    /// Flushes the file's data, and only the metadata needed to read it back,
    /// to the device ([`std::fs::File::sync_data`]).
    pub fn sync_data(&self) -> io::Result<()> {
        self.io(|f| f.sync_data())
    }

    /// Truncates or zero-extends the file to `size` bytes; the cursor does
    /// not move ([`std::fs::File::set_len`]).
    pub fn set_len(&self, size: u64) -> io::Result<()> {
        self.io(|f| f.set_len(size))
    }

    /// The metadata of the open file ([`std::fs::File::metadata`]).
    pub fn metadata(&self) -> io::Result<Metadata> {
        self.io(|f| f.metadata())
    }

    /// A new `File` for the same open file, sharing its cursor
    /// ([`std::fs::File::try_clone`]).
    pub fn try_clone(&self) -> io::Result<File> {
        self.io(|f| f.try_clone()).map(File::from)
    }

    /// Sets the permissions of the open file
    /// ([`std::fs::File::set_permissions`]).
    pub fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        self.io(|f| f.set_permissions(perm))
    }

    /// The [`std::fs::File`] inside, whose calls block their thread as std's
    /// do.
    pub fn into_std(self) -> std::fs::File {
        self.inner
    }

    /// Runs `op` on the inner file through the blocking path. It gets
    /// `&mut &std::fs::File` because std implements `Read`, `Write` and
    /// `Seek` for `&std::fs::File`.
    #[track_caller]
    fn io<T: Send>(&self, op: impl FnOnce(&mut &std::fs::File) -> T + Send) -> T {
        blocking(|| op(&mut &self.inner))
    }
}

/// Reads through the blocking path; each method is one call of std's.
impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.io(|f| f.read(buf))
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.io(|f| f.read_vectored(bufs))
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.io(|f| f.read_to_end(buf))
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        self.io(|f| f.read_to_string(buf))
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.io(|f| f.read_exact(buf))
    }
}

/// Writes through the blocking path; each method is one call of std's.
impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.io(|f| f.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.io(|f| f.write_vectored(bufs))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.io(|f| f.write_all(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.io(|f| f.flush())
    }
}

/// Moves the cursor through the blocking path.
impl Seek for &File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.io(|f| f.seek(pos))
    }
}

/// As [`Read` for `&File`](#impl-Read-for-%26File).
impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        (&*self).read_to_end(buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        (&*self).read_to_string(buf)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        (&*self).read_exact(buf)
    }
}

/// As [`Write` for `&File`](#impl-Write-for-%26File).
impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        (&*self).write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

/// As [`Seek` for `&File`](#impl-Seek-for-%26File).
impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
}

/// Wraps an open std file; its later operations take the blocking path.
impl From<std::fs::File> for File {
    fn from(inner: std::fs::File) -> File {
        File { inner }
    }
}

/// Unwraps the std file, as [`File::into_std`].
impl From<File> for std::fs::File {
    fn from(file: File) -> std::fs::File {
        file.into_std()
    }
}

/// The file's descriptor, still owned by the `File`.
#[cfg(unix)]
impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

/// The file's descriptor, borrowed for as long as the `File`.
#[cfg(unix)]
impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

/// Gives up the descriptor without closing it; the caller now owns it.
#[cfg(unix)]
impl IntoRawFd for File {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_raw_fd()
    }
}

/// Takes ownership of an open file descriptor.
#[cfg(unix)]
impl FromRawFd for File {
    /// # Safety
    /// As [`std::fs::File::from_raw_fd`]: `fd` must be an open file
    /// descriptor that nothing else owns or will close.
    unsafe fn from_raw_fd(fd: RawFd) -> File {
        // SAFETY: the caller hands over an open descriptor it owns, which is
        // exactly what `std::fs::File::from_raw_fd` requires.
        File::from(unsafe { std::fs::File::from_raw_fd(fd) })
    }
}

/// How to open a file: std's [`std::fs::OpenOptions`] builder, whose
/// [`open`](Self::open) takes the blocking path. Start from
/// [`File::options`] or [`OpenOptions::new`], or convert a std builder (for
/// its platform extensions, such as the Unix mode) with `From`.
///
/// ```
/// use std::io::Write;
///
/// let path = std::env::temp_dir().join(format!("goro-fs-doc-options-{}", std::process::id()));
/// let mut log = goro::fs::OpenOptions::new()
///     .append(true)
///     .create(true)
///     .open(&path)?;
/// log.write_all(b"one\n")?;
/// goro::fs::File::options().append(true).open(&path)?.write_all(b"two\n")?;
/// assert_eq!(std::fs::read_to_string(&path)?, "one\ntwo\n");
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions(std::fs::OpenOptions);

impl OpenOptions {
    /// Options with every flag off ([`std::fs::OpenOptions::new`]).
    pub fn new() -> OpenOptions {
        OpenOptions(std::fs::OpenOptions::new())
    }

    /// Open for reading ([`std::fs::OpenOptions::read`]).
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.set(|o| o.read(read))
    }

    /// Open for writing ([`std::fs::OpenOptions::write`]).
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.set(|o| o.write(write))
    }

    /// Open for writing at the end of the file, every write appended
    /// ([`std::fs::OpenOptions::append`]).
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.set(|o| o.append(append))
    }

    /// Truncate an existing file to length 0 on opening
    /// ([`std::fs::OpenOptions::truncate`]).
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.set(|o| o.truncate(truncate))
    }

    /// Create the file if it does not exist
    /// ([`std::fs::OpenOptions::create`]).
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.set(|o| o.create(create))
    }

    /// Create the file, failing with [`io::ErrorKind::AlreadyExists`] if
    /// anything exists at the path ([`std::fs::OpenOptions::create_new`]).
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.set(|o| o.create_new(create_new))
    }

    /// Opens the file at `path` with these options
    /// ([`std::fs::OpenOptions::open`]).
    #[track_caller]
    pub fn open<P: AsRef<Path>>(&self, path: P) -> io::Result<File> {
        let path = path.as_ref();
        blocking(|| self.0.open(path)).map(File::from)
    }

    /// Applies one of std's flag setters to the inner builder.
    fn set(
        &mut self,
        flag: impl FnOnce(&mut std::fs::OpenOptions) -> &mut std::fs::OpenOptions,
    ) -> &mut OpenOptions {
        flag(&mut self.0);
        self
    }
}

/// The same as [`OpenOptions::new`]: every flag off.
impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

/// Takes over a std builder, with any platform extensions set on it.
impl From<std::fs::OpenOptions> for OpenOptions {
    fn from(options: std::fs::OpenOptions) -> OpenOptions {
        OpenOptions(options)
    }
}
