//! Which git commit the manifests are: a flag or file naming it, git-sync's worktree, or a checkout's HEAD.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Where the revision comes from: `--revision` wins, then `--revision-file` (read at each
/// reload), then what the manifest directory says (git-sync's `.worktrees/HASH`, a `.git`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevisionSource {
    pub flag: Option<String>,
    pub file: Option<PathBuf>,
}

/// The longest file read for a revision (`HEAD`, a ref, `--revision-file`).
const MAX_SMALL_FILE: u64 = 4096;
/// The longest `packed-refs` read.
const MAX_PACKED_REFS: u64 = 1 << 20;
/// How many directories up from the manifest directory a `.git` is looked for.
const MAX_UP: usize = 32;

pub use crate::types::{is_commit, short_revision as short};

/// The revision of the manifests in `dir` (`None`: not known).
pub fn revision(dir: &Path, source: &RevisionSource) -> Option<String> {
    if let Some(r) = &source.flag {
        return Some(short_form(r));
    }
    if let Some(f) = &source.file {
        return read_small(f, MAX_SMALL_FILE).map(|t| short_form(t.trim())).filter(|t| !t.is_empty());
    }
    detect(dir)
}

/// A revision given by a person: trimmed, printable, at most 64 characters.
fn short_form(r: &str) -> String {
    r.trim().chars().filter(|c| !c.is_control()).take(64).collect()
}

/// git-sync's worktree name, else the checkout's HEAD.
pub fn detect(dir: &Path) -> Option<String> {
    let real = dir.canonicalize().ok()?;
    // git-sync: `ROOT/.worktrees/HASH` (what its `repo` link points at) is that commit's tree.
    let mut parts = real.components().map(|c| c.as_os_str().to_string_lossy().to_string()).peekable();
    while let Some(p) = parts.next() {
        if p == ".worktrees" {
            if let Some(hash) = parts.peek().filter(|h| is_commit(h)) {
                return Some(hash.clone());
            }
        }
    }
    real.ancestors().take(MAX_UP).find_map(head_of)
}

/// The commit HEAD names in the checkout at `dir` (a `.git` directory, or a worktree's `.git`
/// file with `gitdir: PATH`).
fn head_of(dir: &Path) -> Option<String> {
    let dotgit = dir.join(".git");
    let gitdir = if dotgit.is_dir() {
        dotgit
    } else {
        let text = read_small(&dotgit, MAX_SMALL_FILE)?;
        let path = PathBuf::from(text.strip_prefix("gitdir:")?.trim());
        if path.is_absolute() {
            path
        } else {
            dir.join(path)
        }
    };
    let head = read_small(&gitdir.join("HEAD"), MAX_SMALL_FILE)?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref:").map(str::trim) else {
        return is_commit(head).then(|| head.to_string());
    };
    if !reference.starts_with("refs/") || reference.split('/').any(|p| p == ".." || p.is_empty()) {
        return None;
    }
    // A linked worktree keeps its refs in the main repository (`commondir`).
    let common = read_small(&gitdir.join("commondir"), MAX_SMALL_FILE)
        .map(|c| gitdir.join(c.trim()))
        .unwrap_or_else(|| gitdir.clone());
    let loose = [&gitdir, &common].into_iter().find_map(|g| read_small(&g.join(reference), MAX_SMALL_FILE));
    if let Some(hash) = loose.map(|t| t.trim().to_string()).filter(|t| is_commit(t)) {
        return Some(hash);
    }
    let packed = read_small(&common.join("packed-refs"), MAX_PACKED_REFS)?;
    packed.lines().find_map(|l| {
        let (hash, name) = l.split_once(' ')?;
        (name == reference && is_commit(hash)).then(|| hash.to_string())
    })
}

/// A regular file's text, when it is at most `max` bytes (never more is read). Anything else
/// (a FIFO, whose open blocks until a writer comes; a device) is no revision.
fn read_small(path: &Path, max: u64) -> Option<String> {
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    std::fs::File::open(path).ok()?.take(max + 1).read_to_string(&mut text).ok()?;
    (text.len() as u64 <= max).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const C1: &str = "3f2a9c1d0e5b4a6978877665544332211000aabb";

    #[test]
    fn a_flag_wins_then_a_file_then_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("REVISION");
        std::fs::write(&file, format!("{C1}\n")).unwrap();
        let both = RevisionSource { flag: Some("v1.2.3".into()), file: Some(file.clone()) };
        assert_eq!(revision(dir.path(), &both).as_deref(), Some("v1.2.3"));
        let from_file = RevisionSource { flag: None, file: Some(file) };
        assert_eq!(revision(dir.path(), &from_file).as_deref(), Some(C1));
        assert_eq!(short(C1), "3f2a9c1");
    }

    #[test]
    fn a_revision_file_or_head_that_is_not_a_regular_file_is_no_revision_and_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("REVISION");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let git = dir.path().join(".git");
        std::fs::create_dir(&git).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(git.join("HEAD")).status().unwrap().success());
        let (tx, rx) = std::sync::mpsc::channel();
        let root = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let source = RevisionSource { flag: None, file: Some(fifo) };
            let _ = tx.send((revision(&root, &source), detect(&root)));
        });
        // A hang guard, not a timing threshold: the reads either return or never do.
        let read = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("a FIFO blocked the read");
        assert_eq!(read, (None, None));
        assert_eq!(read_small(Path::new("/dev/zero"), MAX_SMALL_FILE), None);
    }

    #[test]
    fn a_git_sync_worktree_names_its_commit() {
        let root = tempfile::tempdir().unwrap();
        let tree = root.path().join(".worktrees").join(C1).join("manifests");
        std::fs::create_dir_all(&tree).unwrap();
        assert_eq!(detect(&tree).as_deref(), Some(C1));
    }

    #[test]
    fn a_checkout_head_is_read_through_its_branch_loose_or_packed() {
        let root = tempfile::tempdir().unwrap();
        let git = root.path().join(".git");
        std::fs::create_dir_all(git.join("refs/heads")).unwrap();
        std::fs::create_dir_all(root.path().join("manifests")).unwrap();
        std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(git.join("packed-refs"), format!("# pack-refs\n{C1} refs/heads/main\n")).unwrap();
        assert_eq!(detect(&root.path().join("manifests")).as_deref(), Some(C1), "packed");
        let c2 = "a".repeat(40);
        std::fs::write(git.join("refs/heads/main"), format!("{c2}\n")).unwrap();
        assert_eq!(detect(&root.path().join("manifests")).as_deref(), Some(c2.as_str()), "loose wins");
        std::fs::write(git.join("HEAD"), "ref: refs/heads/../../../etc/passwd\n").unwrap();
        assert_eq!(detect(&root.path().join("manifests")), None, "a ref outside refs/ is not read");
    }
}
