//! A panic in any task makes the daemon unhealthy (/healthz 500), is counted and alerted, and stops the process so that it is restarted.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::metrics::Metrics;
use crate::status::StatusStore;

/// Installs the process-wide panic hook of the daemon: after the default hook has printed the
/// panic, it counts it, marks the process unhealthy (lock-free: the panic may have happened under
/// any lock) and wakes `notify`, on which the daemon alerts and stops.
pub fn install(status: Arc<StatusStore>, metrics: Arc<Metrics>, notify: Arc<Notify>) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        let at =
            info.location().map_or_else(|| "an unknown place".to_string(), |l| format!("{}:{}", l.file(), l.line()));
        metrics.panics.inc();
        status.set_panicked(at);
        notify.notify_one();
    }));
}

/// A fault for the tests (debug builds only): a reconcile of the function named in
/// `LAMBDA_RECONCILER_TEST_PANIC` panics, as a bug would.
#[cfg(debug_assertions)]
pub fn injected(function: &str) {
    if std::env::var("LAMBDA_RECONCILER_TEST_PANIC").is_ok_and(|f| f == function) {
        panic!("injected panic (LAMBDA_RECONCILER_TEST_PANIC) in the reconcile of {function}");
    }
}

/// Release builds have no injected faults.
#[cfg(not(debug_assertions))]
pub fn injected(_function: &str) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_any_thread_marks_the_process_unhealthy_counts_it_and_wakes_the_daemon() {
        let (status, metrics, notify) =
            (Arc::new(StatusStore::default()), Arc::new(Metrics::default()), Arc::new(Notify::new()));
        install(status.clone(), metrics.clone(), notify.clone());
        let result = std::thread::spawn(|| panic!("a bug")).join();
        drop(std::panic::take_hook()); // back to the default hook for the other tests
        assert!(result.is_err());
        assert!(status.panicked().is_some_and(|at| at.contains("panics.rs")), "{:?}", status.panicked());
        assert_eq!(metrics.panics.get(), 1);
        let woken = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), notify.notified()).await.is_ok()
        });
        assert!(woken, "the daemon is woken to alert and stop");
    }
}
