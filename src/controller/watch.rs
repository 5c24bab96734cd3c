//! Watching the manifest directory: notify events, debounced into single reload signals, and
//! re-resolved after every burst so a symlink swap (git-sync's `repo` link, a ConfigMap's
//! `..data`) moves the watch to the new tree.

use std::path::{Path, PathBuf};
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

/// Watches `dir`. Each burst of events (quiet for `debounce`, or at most `10 × debounce` long)
/// produces one message on the returned channel. The watch lives as long as the channel.
pub fn watch(dir: &Path, debounce: Duration) -> notify::Result<mpsc::Receiver<()>> {
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Some(e) = event.ok().filter(|e| is_change(&e.kind)) {
            tracing::trace!(kind = ?e.kind, paths = ?e.paths, "file event");
            let _ = raw_tx.send(());
        }
    })?;
    let none = Watched { tree: None, parents: vec![] };
    let mut current = targets(dir);
    if current.tree.is_none() {
        watcher.watch(dir, RecursiveMode::Recursive)?; // surfaces "no such directory" at start
    }
    rewatch(&mut watcher, &none, &current);
    let (tx, rx) = mpsc::channel(1);
    let dir = dir.to_path_buf();
    tokio::spawn(async move {
        while raw_rx.recv().await.is_some() {
            let burst_end = tokio::time::Instant::now() + debounce * 10;
            loop {
                tokio::select! {
                    more = raw_rx.recv() => if more.is_none() { return },
                    _ = tokio::time::sleep(debounce) => break,
                }
                if tokio::time::Instant::now() >= burst_end {
                    break;
                }
            }
            let next = targets(&dir);
            rewatch(&mut watcher, &current, &next);
            current = next;
            // A reload is already pending if the channel is full: this burst is covered by it.
            if tx.try_send(()).is_err() && tx.is_closed() {
                return;
            }
        }
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, ModifyKind, RemoveKind, RenameMode};
    use notify::EventKind;

    use super::is_change;

    #[test]
    fn reading_files_is_not_a_change_but_writes_creates_removes_and_renames_are() {
        assert!(!is_change(&EventKind::Access(AccessKind::Open(AccessMode::Any))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(is_change(&EventKind::Modify(ModifyKind::Data(DataChange::Any))));
        assert!(is_change(&EventKind::Modify(ModifyKind::Name(RenameMode::Both))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Remove(RemoveKind::Any)));
    }
}
