//! Watching the manifest directory: notify events, debounced into single reload signals.

use std::path::Path;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Keeps the OS watch alive; dropping it stops watching.
pub struct DirWatch {
    _watcher: RecommendedWatcher,
}

/// Watches `dir` recursively. Each burst of events (quiet for `debounce`, or at most
/// `10 × debounce` long) produces one message on the returned channel.
pub fn watch(dir: &Path, debounce: Duration) -> notify::Result<(DirWatch, mpsc::Receiver<()>)> {
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = raw_tx.send(());
        }
    })?;
    watcher.watch(dir, RecursiveMode::Recursive)?;
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while raw_rx.recv().await.is_some() {
            let burst_end = tokio::time::Instant::now() + debounce * 10;
            loop {
                let quiet = tokio::time::sleep(debounce);
                tokio::select! {
                    more = raw_rx.recv() => if more.is_none() { return },
                    _ = quiet => break,
                }
                if tokio::time::Instant::now() >= burst_end {
                    break;
                }
            }
            // A reload is already pending if the channel is full: this burst is covered by it.
            let _ = tx.try_send(());
        }
    });
    Ok((DirWatch { _watcher: watcher }, rx))
}
