//! Per-manifest sync status and readiness, shared by the controller and the admin endpoints.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::SystemTime;

use serde::Serialize;

use crate::types::{FunctionKey, RolloutView};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SyncState {
    Synced,
    OutOfSync,
    Progressing,
    Error,
    Blocked,
    /// A rollout rolled back; its target is held until the manifest changes it or `retry`.
    RolledBack,
    Unknown,
}

impl SyncState {
    pub const ALL: [SyncState; 7] = [
        SyncState::Synced,
        SyncState::OutOfSync,
        SyncState::Progressing,
        SyncState::Error,
        SyncState::Blocked,
        SyncState::RolledBack,
        SyncState::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Synced => "Synced",
            SyncState::OutOfSync => "OutOfSync",
            SyncState::Progressing => "Progressing",
            SyncState::Error => "Error",
            SyncState::Blocked => "Blocked",
            SyncState::RolledBack => "RolledBack",
            SyncState::Unknown => "Unknown",
        }
    }
}

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestStatus {
    pub manifest: String,
    pub file: String,
    pub function: String,
    pub region: String,
    /// The account of the role the manifest names (`spec.roleArn`); absent: the controller's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub sync: SyncState,
    pub drifted_fields: Vec<String>,
    /// Each drifted field with its value in git and in AWS, as redacted by the planner
    /// (`(sensitive)` for SecureString and secret values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<DriftValue>,
    /// The manifest's `metadata.labels`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub blocked: Vec<String>,
    /// Rollouts of aliases with a deployment (step, weight, next step time, alarms).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rollouts: Vec<RolloutView>,
    pub progressing: Vec<String>,
    pub last_applied: Option<String>,
    pub last_reconciled: Option<String>,
    pub last_error: Option<String>,
    /// Content hash of the manifest version loaded now.
    pub generation: String,
    /// Content hash of the manifest version last applied successfully.
    pub observed_generation: Option<String>,
    /// The git revision that applied it (from the function's generation tag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// One drifted field: its value in git (`desired`) and in AWS (`actual`), already redacted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftValue {
    pub field: String,
    pub desired: serde_json::Value,
    pub actual: serde_json::Value,
    /// Who made the change (the CloudTrail event that reported it); `null`: unknown.
    #[serde(rename = "changedBy")]
    pub changed_by: Option<crate::types::ChangedBy>,
}

/// An alert as /status and the status page list it: its text is already redacted.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub time: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    pub text: String,
}

/// How many of the latest alerts are kept for /status and the page.
pub const RECENT_ALERTS: usize = 50;

/// Status of every managed manifest, keyed by function.
#[derive(Default)]
pub struct StatusStore {
    map: RwLock<BTreeMap<FunctionKey, ManifestStatus>>,
    first_pass: Mutex<Option<HashSet<FunctionKey>>>,
    ready: AtomicBool,
    /// The account-regions whose endpoint did not answer the last reconcile there.
    unreachable: Mutex<std::collections::BTreeSet<String>>,
    /// This replica's part: "single" (no lease), "leader" or "follower".
    role: Mutex<&'static str>,
    /// The shards it holds (with `--shards` above 1).
    shards: Mutex<Vec<usize>>,
    /// The latest alerts, oldest first, at most [`RECENT_ALERTS`].
    alerts: Mutex<VecDeque<AlertView>>,
    /// Where the first panic of any task happened: the process is unhealthy from then on.
    panicked: std::sync::OnceLock<String>,
    /// The git revision of the manifests loaded now.
    revision: Mutex<Option<String>>,
}

impl StatusStore {
    /// Records the git revision of the manifests just loaded.
    pub fn set_revision(&self, revision: Option<String>) {
        *self.revision.lock().unwrap() = revision;
    }

    pub fn revision(&self) -> Option<String> {
        self.revision.lock().unwrap().clone()
    }

    /// Records a panic at `location` (the first one is kept): /healthz answers 500 from now on.
    /// Lock-free, for the panic hook.
    pub fn set_panicked(&self, location: String) {
        let _ = self.panicked.set(location);
    }

    /// Where a task panicked, once one has.
    pub fn panicked(&self) -> Option<&str> {
        self.panicked.get().map(String::as_str)
    }

    pub fn upsert(&self, key: &FunctionKey, f: impl FnOnce(Option<ManifestStatus>) -> ManifestStatus) {
        self.upsert_if(key, |_| true, f);
    }

    /// [`Self::upsert`] while `owned(key)` holds, checked under the write lock: a replica that
    /// gave the key's shard away (and removed its status) does not bring it back.
    pub fn upsert_if(
        &self,
        key: &FunctionKey,
        owned: impl FnOnce(&FunctionKey) -> bool,
        f: impl FnOnce(Option<ManifestStatus>) -> ManifestStatus,
    ) {
        let mut map = self.map.write().unwrap();
        if owned(key) {
            let next = f(map.remove(key));
            map.insert(key.clone(), next);
        }
    }

    pub fn remove(&self, key: &FunctionKey) {
        self.map.write().unwrap().remove(key);
    }

    /// Removes the statuses whose key matches `pred` and returns them.
    pub fn remove_where(&self, pred: impl Fn(&FunctionKey) -> bool) -> Vec<(FunctionKey, ManifestStatus)> {
        let mut map = self.map.write().unwrap();
        let keys: Vec<FunctionKey> = map.keys().filter(|k| pred(k)).cloned().collect();
        keys.into_iter().filter_map(|k| map.remove(&k).map(|s| (k, s))).collect()
    }

    /// The number of statuses, and a copy of those from `offset` (at most `limit`), in key order.
    pub fn page(&self, offset: usize, limit: usize) -> (usize, Vec<ManifestStatus>) {
        let map = self.map.read().unwrap();
        (map.len(), map.values().skip(offset).take(limit).cloned().collect())
    }

    /// Runs `f` over every status under the read lock, without copying them (the status page).
    pub fn with_all<T>(&self, f: impl FnOnce(&[&ManifestStatus]) -> T) -> T {
        let map = self.map.read().unwrap();
        let all: Vec<&ManifestStatus> = map.values().collect();
        f(&all)
    }

    pub fn counts(&self) -> Vec<(&'static str, i64)> {
        let map = self.map.read().unwrap();
        SyncState::ALL.iter().map(|s| (s.as_str(), map.values().filter(|m| m.sync == *s).count() as i64)).collect()
    }

    /// The keys of the first full pass; ready once each has been reconciled once.
    pub fn start_first_pass(&self, keys: HashSet<FunctionKey>) {
        let done = keys.is_empty();
        *self.first_pass.lock().unwrap() = Some(keys);
        if done {
            self.ready.store(true, Ordering::SeqCst);
        }
    }

    pub fn reconciled(&self, key: &FunctionKey) {
        let mut fp = self.first_pass.lock().unwrap();
        if let Some(set) = fp.as_mut() {
            set.remove(key);
            if set.is_empty() {
                self.ready.store(true, Ordering::SeqCst);
            }
        }
    }

    /// Ready: the first pass is done and AWS answered the last reconcile in every account-region.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && self.unreachable.lock().unwrap().is_empty()
    }

    pub fn set_role(&self, role: &'static str) {
        *self.role.lock().unwrap() = role;
    }

    /// Forgets every manifest's status and the first pass (a replica that stopped being the
    /// writer: what it knew is no longer current).
    pub fn clear(&self) {
        self.map.write().unwrap().clear();
        *self.first_pass.lock().unwrap() = None;
        self.ready.store(false, Ordering::SeqCst);
        self.unreachable.lock().unwrap().clear();
    }

    /// Keeps `a` among the latest alerts (the oldest goes past [`RECENT_ALERTS`]).
    pub fn push_alert(&self, a: AlertView) {
        let mut q = self.alerts.lock().unwrap();
        if q.len() == RECENT_ALERTS {
            q.pop_front();
        }
        q.push_back(a);
    }

    /// The latest alerts, newest first.
    pub fn recent_alerts(&self) -> Vec<AlertView> {
        self.alerts.lock().unwrap().iter().rev().cloned().collect()
    }

    pub fn set_shards(&self, shards: Vec<usize>) {
        *self.shards.lock().unwrap() = shards;
    }

    pub fn shards(&self) -> Vec<usize> {
        self.shards.lock().unwrap().clone()
    }

    /// "single" (no lease table), "leader" or "follower".
    pub fn role(&self) -> &'static str {
        match *self.role.lock().unwrap() {
            "" => "single",
            r => r,
        }
    }

    /// Records whether AWS answered in `scope` (an account-region); returns true when this
    /// changes that scope's state.
    pub fn set_reachable(&self, scope: &str, ok: bool) -> bool {
        let mut down = self.unreachable.lock().unwrap();
        if ok {
            down.remove(scope)
        } else {
            down.insert(scope.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_alerts_keep_the_latest_fifty_newest_first() {
        let store = StatusStore::default();
        for i in 0..60 {
            store.push_alert(AlertView {
                time: String::new(),
                kind: "Drift".into(),
                manifest: None,
                text: i.to_string(),
            });
        }
        let texts: Vec<String> = store.recent_alerts().into_iter().map(|a| a.text).collect();
        assert_eq!(texts.len(), RECENT_ALERTS);
        assert_eq!((texts[0].as_str(), texts[49].as_str()), ("59", "10"));
    }
}
