//! Watching the manifest directory: notify events, debounced into single reload signals, and
//! re-resolved after every burst so a symlink swap (git-sync's `repo` link, a ConfigMap's
//! `..data`) moves the watch to the new tree. A burst names the files it touched, so a reload
//! re-reads only those; a swap, or anything unclear, asks for a full rescan.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// What is watched now: the resolved tree (recursively) and the directory holding each symlink
/// on the way to it (to see a link replaced), e.g. `/git` for `-m /git/repo/manifests`.
struct Watched {
    tree: Option<PathBuf>,
    parents: Vec<PathBuf>,
}

fn targets(dir: &Path) -> Watched {
    let tree = std::fs::canonicalize(dir).ok();
    let parents =
        dir.ancestors().filter(|a| a.is_symlink()).filter_map(|a| a.parent().map(Path::to_path_buf)).collect();
    Watched { tree, parents }
}

fn rewatch(w: &mut RecommendedWatcher, old: &Watched, new: &Watched) {
    if old.tree != new.tree {
        if let Some(t) = &old.tree {
            let _ = w.unwatch(t);
        }
        if let Some(t) = &new.tree {
            if let Err(e) = w.watch(t, RecursiveMode::Recursive) {
                tracing::warn!(path = %t.display(), error = %e, "cannot watch the manifest tree");
            }
        }
    }
    if old.parents != new.parents {
        for p in &old.parents {
            let _ = w.unwatch(p);
        }
        for p in &new.parents {
            let _ = w.watch(p, RecursiveMode::NonRecursive);
        }
    }
}

/// Whether an event can change what a scan reads. Opening and reading files (every reload does
/// it) is not a change: reacting to it would make each reload trigger the next.
pub fn is_change(kind: &notify::EventKind) -> bool {
    !matches!(kind, notify::EventKind::Access(_))
}

/// What a burst of file events asks of the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// These paths (as the store names them, under the watched `dir`) changed: re-read them.
    Paths(BTreeSet<PathBuf>),
    /// Rescan everything: a symlink swap, an event outside the tree, or events notify lost.
    Full,
}

impl Change {
    fn merge(self, other: Change) -> Change {
        match (self, other) {
            (Change::Paths(mut a), Change::Paths(b)) => {
                a.extend(b);
                Change::Paths(a)
            }
            _ => Change::Full,
        }
    }

    /// The change one event makes: its paths mapped from the resolved `tree` into `dir`.
    fn of(event: &notify::Event, tree: Option<&Path>, dir: &Path) -> Change {
        let Some(tree) = tree else { return Change::Full };
        if event.need_rescan() || event.paths.is_empty() {
            return Change::Full;
        }
        let mut paths = BTreeSet::new();
        for p in &event.paths {
            match p.strip_prefix(tree) {
                Ok(rel) => paths.insert(dir.join(rel)),
                Err(_) => return Change::Full,
            };
        }
        Change::Paths(paths)
    }
}

/// The reload signals of a watch: each `next` is the merged change since the last one.
pub struct Reloads {
    rx: mpsc::Receiver<()>,
    pending: Arc<Mutex<Option<Change>>>,
}

impl Reloads {
    pub async fn next(&mut self) -> Option<Change> {
        loop {
            self.rx.recv().await?;
            // Nothing pending: an earlier `next` already took this signal's change with its own.
            if let Some(change) = self.pending.lock().unwrap().take() {
                return Some(change);
            }
        }
    }
}

/// Watches `dir`. Each burst of events (quiet for `debounce`, or at most `10 × debounce` long)
/// produces one reload signal carrying what changed. The watch lives as long as the `Reloads`.
pub fn watch(dir: &Path, debounce: Duration) -> notify::Result<Reloads> {
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<notify::Event>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // An error from the watcher may mean lost events: an event with no path rescans.
        let e = event.unwrap_or_else(|_| notify::Event::new(notify::EventKind::Any));
        if is_change(&e.kind) {
            tracing::trace!(kind = ?e.kind, paths = ?e.paths, "file event");
            let _ = raw_tx.send(e);
        }
    })?;
    let none = Watched { tree: None, parents: vec![] };
    let mut current = targets(dir);
    if current.tree.is_none() {
        watcher.watch(dir, RecursiveMode::Recursive)?; // surfaces "no such directory" at start
    }
    rewatch(&mut watcher, &none, &current);
    let (tx, rx) = mpsc::channel(1);
    let pending: Arc<Mutex<Option<Change>>> = Arc::default();
    let shared = pending.clone();
    let dir = dir.to_path_buf();
    tokio::spawn(async move {
        while let Some(first) = raw_rx.recv().await {
            let mut burst = Change::of(&first, current.tree.as_deref(), &dir);
            let burst_end = tokio::time::Instant::now() + debounce * 10;
            loop {
                tokio::select! {
                    more = raw_rx.recv() => match more {
                        None => return,
                        Some(e) => burst = burst.merge(Change::of(&e, current.tree.as_deref(), &dir)),
                    },
                    _ = tokio::time::sleep(debounce) => break,
                }
                if tokio::time::Instant::now() >= burst_end {
                    break;
                }
            }
            let next = targets(&dir);
            if next.tree != current.tree || next.parents != current.parents {
                burst = Change::Full;
            }
            rewatch(&mut watcher, &current, &next);
            current = next;
            {
                let mut p = shared.lock().unwrap();
                *p = Some(match p.take() {
                    Some(earlier) => earlier.merge(burst),
                    None => burst,
                });
            }
            // A reload is already pending if the channel is full: it takes this burst too.
            if tx.try_send(()).is_err() && tx.is_closed() {
                return;
            }
        }
    });
    Ok(Reloads { rx, pending })
}

#[cfg(test)]
mod tests {
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, ModifyKind, RemoveKind, RenameMode};
    use notify::EventKind;

    use super::{is_change, Change};
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    #[test]
    fn reading_files_is_not_a_change_but_writes_creates_removes_and_renames_are() {
        assert!(!is_change(&EventKind::Access(AccessKind::Open(AccessMode::Any))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(is_change(&EventKind::Modify(ModifyKind::Data(DataChange::Any))));
        assert!(is_change(&EventKind::Modify(ModifyKind::Name(RenameMode::Both))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Remove(RemoveKind::Any)));
    }

    fn event(paths: &[&str]) -> notify::Event {
        let mut e = notify::Event::new(EventKind::Modify(ModifyKind::Data(DataChange::Any)));
        e.paths = paths.iter().map(PathBuf::from).collect();
        e
    }

    #[test]
    fn a_burst_names_its_files_under_the_watched_path_and_anything_else_rescans() {
        let (tree, dir) = (Some(Path::new("/git/rev-2/manifests")), Path::new("/git/repo/manifests"));
        let c = Change::of(&event(&["/git/rev-2/manifests/a.yaml"]), tree, dir);
        assert_eq!(c, Change::Paths(BTreeSet::from([PathBuf::from("/git/repo/manifests/a.yaml")])));
        let b = Change::of(&event(&["/git/rev-2/manifests/sub/b.yaml"]), tree, dir);
        let both = Change::Paths(BTreeSet::from([dir.join("a.yaml"), dir.join("sub/b.yaml")]));
        assert_eq!(c.clone().merge(b), both);
        assert_eq!(Change::of(&event(&["/git/repo"]), tree, dir), Change::Full, "outside the tree: a swap");
        assert_eq!(Change::of(&event(&[]), tree, dir), Change::Full, "no path");
        assert_eq!(Change::of(&event(&["/git/rev-2/manifests/a.yaml"]), None, dir), Change::Full, "no tree yet");
        let lost = event(&["/git/rev-2/manifests/a.yaml"]).set_flag(notify::event::Flag::Rescan);
        assert_eq!(Change::of(&lost, tree, dir), Change::Full, "notify lost events");
        assert_eq!(c.merge(Change::Full), Change::Full);
    }
}
