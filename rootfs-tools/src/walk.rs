//! A parallel walk of a rootfs by directory fd (rayon, all cores), for `shift` and `check`.
//!
//! Each directory is opened relative to its parent's fd with `O_NOFOLLOW` and checked to be the
//! inode its parent listed; entries are looked at with `statx(AT_SYMLINK_NOFOLLOW)` relative to
//! that fd. A directory on another mount (its mount id differs from the root's) is reported and
//! not entered. Large directories are split into chunks so one huge directory still uses every
//! core.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use indicatif::ProgressBar;
use rustix::fs::{FileType, Mode, Statx};
use rustix::io::Errno;

use crate::RootfsError;
use crate::at::{self, Xt};

/// Entries looked at by one job.
const CHUNK: usize = 256;

/// An open directory of the walk.
pub(crate) struct Node {
    /// Unique for the process's life (never reused, unlike fd numbers).
    pub(crate) id: u64,
    /// Opened for reading, never through a symlink.
    pub(crate) fd: OwnedFd,
    /// Its path relative to the root (`""` for the root).
    pub(crate) rel: PathBuf,
}

/// One entry being visited: a directory (with its own fd) or another entry of `dir`.
pub(crate) struct Entry<'a> {
    /// The directory the entry is in; for a directory visited itself, that directory.
    pub(crate) dir: &'a Node,
    /// The entry's name in `dir`; `None` when the entry is `dir` itself.
    pub(crate) name: Option<&'a OsStr>,
    /// Its `statx`.
    pub(crate) st: &'a Statx,
}

impl Entry<'_> {
    /// The path relative to the root.
    pub(crate) fn rel(&self) -> PathBuf {
        match self.name {
            Some(name) => self.dir.rel.join(name),
            None => self.dir.rel.clone(),
        }
    }

    /// The file type.
    pub(crate) fn file_type(&self) -> FileType {
        at::file_type(self.st)
    }

    /// Where this entry's extended attributes are reached.
    pub(crate) fn xattrs(&self) -> Xt<'_> {
        match self.name {
            Some(name) if at::in_cwd(self.dir.id) => Xt::Cwd(name),
            Some(name) => Xt::At(self.dir.fd.as_fd(), name),
            None => Xt::Fd(self.dir.fd.as_fd()),
        }
    }

    /// The fd of the directory the entry is in, and its name there; for a directory visited
    /// itself, its own fd and `None`.
    pub(crate) fn at(&self) -> (BorrowedFd<'_>, Option<&OsStr>) {
        (self.dir.fd.as_fd(), self.name)
    }
}

/// What a walk does at each entry. Work is done per chunk into an accumulator, merged once.
pub(crate) trait Visitor: Sync {
    type Acc: Default + Send;
    fn visit(&self, acc: &mut Self::Acc, entry: &Entry<'_>) -> Result<(), RootfsError>;
    fn merge(&self, acc: Self::Acc);
}

/// What the walk itself saw.
#[derive(Debug, Default)]
pub(crate) struct Walked {
    /// Entries visited (the root included).
    pub(crate) entries: u64,
    /// Directories on another mount, not entered (relative paths).
    pub(crate) other_mounts: Vec<PathBuf>,
}

struct Shared<'v, V> {
    task: &'static str,
    root_path: PathBuf,
    mnt_id: u64,
    visitor: &'v V,
    progress: ProgressBar,
    failed: AtomicBool,
    error: Mutex<Option<RootfsError>>,
    walked: Mutex<Walked>,
}

impl<V> Shared<'_, V> {
    fn fail(&self, error: RootfsError) {
        self.failed.store(true, Ordering::Relaxed);
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(error);
    }

    fn io(&self, step: &'static str, rel: &Path, error: std::io::Error) -> RootfsError {
        RootfsError::Io {
            task: self.task,
            step,
            path: self.root_path.join(rel),
            error,
        }
    }
}

/// Walks the tree at `root` (an fd opened with [`at::DIR_FLAGS`]) with `visitor`, in parallel.
pub(crate) fn walk<V: Visitor>(
    task: &'static str,
    root_path: &Path,
    root: OwnedFd,
    visitor: &V,
    progress: ProgressBar,
) -> Result<Walked, RootfsError> {
    raise_fd_limit();
    let io_err = |error: std::io::Error| RootfsError::Io {
        task,
        step: "stat",
        path: root_path.to_path_buf(),
        error,
    };
    let st = at::fstatx(root.as_fd()).map_err(io_err)?;
    let shared = Shared {
        task,
        root_path: root_path.to_path_buf(),
        mnt_id: st.stx_mnt_id,
        visitor,
        progress,
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
        walked: Mutex::new(Walked::default()),
    };
    let node = Arc::new(Node {
        id: next_id(),
        fd: root,
        rel: PathBuf::new(),
    });
    // A pool of our own: its threads get working directories of their own (see `at::enter`).
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("walk-{i}"))
        .start_handler(|_| at::private_cwd())
        .build();
    match pool {
        Ok(pool) => pool.install(|| rayon::scope(|scope| enter(scope, &shared, node, st))),
        Err(_) => rayon::scope(|scope| enter(scope, &shared, node, st)),
    }
    shared.progress.finish_and_clear();
    if let Some(error) = shared.error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(error);
    }
    Ok(shared.walked.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// Visits directory `node` itself, lists it, and spreads its entries over jobs.
fn enter<'s, V: Visitor>(scope: &rayon::Scope<'s>, shared: &'s Shared<'s, V>, node: Arc<Node>, st: Statx) {
    if shared.failed.load(Ordering::Relaxed) {
        return;
    }
    let mut acc = V::Acc::default();
    let entry = Entry {
        dir: &node,
        name: None,
        st: &st,
    };
    if let Err(e) = shared.visitor.visit(&mut acc, &entry) {
        return shared.fail(e);
    }
    shared.visitor.merge(acc);
    shared.progress.inc(1);
    let names = match at::list(node.fd.as_fd()) {
        Ok(names) => names,
        Err(e) => return shared.fail(shared.io("list", &node.rel, e)),
    };
    lock(&shared.walked).entries += 1;
    if names.len() <= CHUNK {
        return chunk(scope, shared, &node, names);
    }
    let mut names = names.into_iter();
    loop {
        let part: Vec<OsString> = names.by_ref().take(CHUNK).collect();
        if part.is_empty() {
            break;
        }
        let node = Arc::clone(&node);
        scope.spawn(move |scope| chunk(scope, shared, &node, part));
    }
}

/// Visits the entries `names` of `node`; subdirectories become jobs of their own.
fn chunk<'s, V: Visitor>(scope: &rayon::Scope<'s>, shared: &'s Shared<'s, V>, node: &Arc<Node>, names: Vec<OsString>) {
    if shared.failed.load(Ordering::Relaxed) {
        return;
    }
    let mut acc = V::Acc::default();
    let mut visited = 0u64;
    // Nothing below runs another job on this thread, so its working directory stays `node`.
    at::enter(node.fd.as_fd(), node.id);
    for name in names {
        let st = match at::lstat(node.fd.as_fd(), &name) {
            Ok(st) => st,
            // Removed since it was listed.
            Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => continue,
            Err(e) => return shared.fail(shared.io("stat", &node.rel.join(&name), e)),
        };
        if at::file_type(&st) == FileType::Directory {
            if st.stx_mnt_id != shared.mnt_id {
                lock(&shared.walked).other_mounts.push(node.rel.join(&name));
                continue;
            }
            let parent = Arc::clone(node);
            scope.spawn(move |scope| open_and_enter(scope, shared, &parent, &name, st));
            continue;
        }
        let entry = Entry {
            dir: node,
            name: Some(&name),
            st: &st,
        };
        if let Err(e) = shared.visitor.visit(&mut acc, &entry) {
            return shared.fail(e);
        }
        visited += 1;
    }
    shared.visitor.merge(acc);
    shared.progress.inc(visited);
    lock(&shared.walked).entries += visited;
}

/// Opens subdirectory `name` of `parent` (checked to be the inode listed) and enters it.
fn open_and_enter<'s, V: Visitor>(
    scope: &rayon::Scope<'s>,
    shared: &'s Shared<'s, V>,
    parent: &Arc<Node>,
    name: &OsStr,
    listed: Statx,
) {
    if shared.failed.load(Ordering::Relaxed) {
        return;
    }
    let rel = parent.rel.join(name);
    let fd = match rustix::fs::openat(parent.fd.as_fd(), name, at::DIR_FLAGS, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return,
        Err(e) => return shared.fail(shared.io("open", &rel, e.into())),
    };
    let st = match at::fstatx(fd.as_fd()) {
        Ok(st) => st,
        Err(e) => return shared.fail(shared.io("stat", &rel, e)),
    };
    if (st.stx_ino, st.stx_mnt_id) != (listed.stx_ino, listed.stx_mnt_id) {
        let error = std::io::Error::other("the directory changed while it was being walked");
        return shared.fail(shared.io("open", &rel, error));
    }
    enter(scope, shared, Arc::new(Node { id: next_id(), fd, rel }), st);
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A deep, wide tree keeps one fd open per directory in progress: raise the soft limit.
fn raise_fd_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (limit.current, limit.maximum)
        && cur < max
    {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(max),
                maximum: Some(max),
            },
        );
    }
}
