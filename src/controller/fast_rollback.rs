//! Alarm roll backs in one urgent call: each reconcile leaves its rollouts in flight as it last saw them (marker, alias and its RevisionId, alarms); when the poller reads one of their alarms in ALARM, the function's next run first puts the alias back with one conditional UpdateAlias, then writes the marker and reports, and the reconcile that follows reads the world as usual.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::decide::Outcome;
use super::Ctx;
use crate::aws::priority::{self, Until, ALIAS_WRITE};
use crate::aws::{ledger, ErrorClass};
use crate::desired::Desired;
use crate::plan::FunctionPlan;
use crate::reconcile::RolloutEvent;
use crate::types::{now_ms, AliasState, FunctionKey, Marker, Phase, Routing};

/// One alias's rollout in flight, as the key's last reconcile left it.
#[derive(Debug, Clone, PartialEq)]
pub struct InFlight {
    /// Its marker (pre-traffic, shifting or post-traffic).
    pub marker: Marker,
    /// The alias's version, routing and RevisionId.
    pub alias: AliasState,
    /// The deployment's alarms.
    pub alarms: BTreeSet<String>,
}

/// A key's rollouts in flight; `generation` changes each time a reconcile replaces them.
struct Hint {
    generation: u64,
    /// The function's ARN (its marker tags are written on it).
    arn: String,
    /// The manifest generation the reconcile planned from: an edit since (alarms, target,
    /// deployment) leaves the roll back to the reconcile, which reads the manifest as it is now.
    manifest: String,
    aliases: BTreeMap<String, InFlight>,
}

/// An alarm read in ALARM for an alias of a hint, waiting for the key's next run.
struct Pending {
    generation: u64,
    alias: String,
    alarm: String,
    at: Instant,
}

/// A fast roll back to make now.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub alias: String,
    pub alarm: String,
    pub arn: String,
    pub rollout: InFlight,
}

/// An alias the fast path put back, its marker still to write: the key's next run writes it
/// (before its reconcile), so a worker is free for the next roll back after one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    pub alias: String,
    pub alarm: String,
    pub arn: String,
    pub marker: Marker,
}

#[derive(Default)]
struct Inner {
    next: u64,
    hints: HashMap<FunctionKey, Hint>,
    pending: HashMap<FunctionKey, Vec<Pending>>,
    restored: HashMap<FunctionKey, Vec<Restored>>,
}

/// The hints, the pending fast roll backs and the restored aliases: at most one hint per key with
/// a rollout in flight, and one pending roll back and one restored alias per alias of it.
#[derive(Default)]
pub struct FastRollbacks(Mutex<Inner>);

impl FastRollbacks {
    /// Replaces `key`'s hint (none when `aliases` is empty): pending roll backs of the old one
    /// are dropped.
    pub fn keep(&self, key: &FunctionKey, arn: Option<String>, manifest: &str, aliases: BTreeMap<String, InFlight>) {
        let mut inner = self.0.lock().unwrap();
        inner.pending.remove(key);
        match arn.filter(|_| !aliases.is_empty()) {
            Some(arn) => {
                inner.next += 1;
                let generation = inner.next;
                inner.hints.insert(key.clone(), Hint { generation, arn, manifest: manifest.to_string(), aliases });
            }
            None => drop(inner.hints.remove(key)),
        }
    }

    /// The poller read `firing` in ALARM: every alias of `key`'s hint watching one of them gets
    /// a pending roll back (one per alias; a later poll refreshes it). True when one did.
    pub fn flag(&self, key: &FunctionKey, firing: &BTreeSet<String>, now: Instant) -> bool {
        let mut inner = self.0.lock().unwrap();
        let Some(hint) = inner.hints.get(key) else { return false };
        let generation = hint.generation;
        let due: Vec<(String, String)> = hint
            .aliases
            .iter()
            .filter_map(|(alias, r)| r.alarms.iter().find(|a| firing.contains(*a)).map(|a| (alias.clone(), a.clone())))
            .collect();
        let pending = inner.pending.entry(key.clone()).or_default();
        for (alias, alarm) in &due {
            pending.retain(|p| &p.alias != alias);
            pending.push(Pending { generation, alias: alias.clone(), alarm: alarm.clone(), at: now });
        }
        if pending.is_empty() {
            inner.pending.remove(key);
        }
        !due.is_empty()
    }

    /// Takes `key`'s pending roll backs flagged within `max_age` of `now` for its current hint;
    /// their aliases leave the hint (a roll back is tried once: the reconcile after it decides).
    /// None when the hint was planned from another generation of the manifest than `manifest`.
    pub fn take(&self, key: &FunctionKey, manifest: &str, max_age: Duration, now: Instant) -> Vec<Due> {
        let mut inner = self.0.lock().unwrap();
        let pending = inner.pending.remove(key).unwrap_or_default();
        let Some(hint) = inner.hints.get_mut(key) else { return vec![] };
        if hint.manifest != manifest {
            inner.hints.remove(key);
            return vec![];
        }
        let (generation, arn) = (hint.generation, hint.arn.clone());
        let fresh = pending
            .into_iter()
            .filter(|p| p.generation == generation && now.saturating_duration_since(p.at) <= max_age);
        let due: Vec<Due> = fresh
            .filter_map(|p| {
                let rollout = hint.aliases.remove(&p.alias)?;
                Some(Due { alias: p.alias, alarm: p.alarm, arn: arn.clone(), rollout })
            })
            .collect();
        if hint.aliases.is_empty() {
            inner.hints.remove(key);
        }
        due
    }

    /// Forgets the keys `keep` refuses (gone from the store, or from this replica's shards).
    pub fn retain(&self, keep: impl Fn(&FunctionKey) -> bool) {
        let keys: Vec<FunctionKey> = {
            let inner = self.0.lock().unwrap();
            inner.hints.keys().chain(inner.restored.keys()).cloned().collect()
        };
        let gone: Vec<FunctionKey> = keys.into_iter().filter(|k| !keep(k)).collect();
        for k in gone {
            self.forget(&k);
        }
        let mut inner = self.0.lock().unwrap();
        let Inner { hints, pending, .. } = &mut *inner;
        pending.retain(|k, _| hints.contains_key(k));
    }

    /// Forgets `key` (its manifest is gone).
    pub fn forget(&self, key: &FunctionKey) {
        let mut inner = self.0.lock().unwrap();
        inner.hints.remove(key);
        inner.pending.remove(key);
        inner.restored.remove(key);
    }

    /// Records an alias put back, its marker still to write.
    fn restored(&self, key: &FunctionKey, r: Restored) {
        let mut inner = self.0.lock().unwrap();
        let list = inner.restored.entry(key.clone()).or_default();
        list.retain(|x| x.alias != r.alias);
        list.push(r);
    }

    /// Forgets every key (a new term: another writer may have acted since).
    pub fn clear(&self) {
        *self.0.lock().unwrap() = Inner::default();
    }

    /// Takes the aliases of `key` put back whose markers are still to write.
    pub fn take_restored(&self, key: &FunctionKey) -> Vec<Restored> {
        self.0.lock().unwrap().restored.remove(key).unwrap_or_default()
    }

    /// How many keys have a hint (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap().hints.len()
    }
}

/// After a reconcile: keeps `key`'s rollouts in flight as this reconcile last saw them (its
/// reads and writes, `aws::ledger`). A rollout whose marker, alias or RevisionId it did not see
/// is left to the ordinary path.
pub fn track(ctx: &Ctx, key: &FunctionKey, d: &Desired, plan: &FunctionPlan) {
    let seen = ledger::seen(&d.function_ref).filter(|_| !ctx.opts.dry_run).unwrap_or_default();
    let mut aliases = BTreeMap::new();
    for (name, a) in &d.aliases {
        let Some(dep) = a.deployment.as_ref().filter(|dep| !dep.alarms.is_empty()) else { continue };
        if !plan.rollouts.iter().any(|r| &r.alias == name && r.active()) {
            continue;
        }
        let marker = seen.markers.get(name).filter(|m| m.active() && m.to == a.function_version);
        let alias = seen.aliases.get(name).and_then(Option::as_ref).filter(|s| !s.revision.is_empty());
        if let (Some(marker), Some(alias)) = (marker, alias) {
            let alarms = dep.alarms.iter().cloned().collect();
            aliases.insert(name.clone(), InFlight { marker: marker.clone(), alias: alias.clone(), alarms });
        }
    }
    ctx.fast_rollbacks.keep(key, seen.arn, &d.generation, aliases);
}

/// Makes the fast roll backs flagged for `key`, then `reconcile` (the worker's run of the key).
/// When every roll back was made, the rest is left to the queue: the key's next run, not urgent,
/// after the other functions the poll found in ALARM have had theirs, writes the markers
/// (`finish`), reports, and reconciles. When one was not made, the reconcile is the roll back:
/// urgent again until its alias write.
pub async fn then(
    ctx: &Ctx,
    key: &FunctionKey,
    (function_ref, manifest): (&str, &str),
    reconcile: impl std::future::Future<Output = Outcome>,
) -> Outcome {
    let due = if ctx.opts.dry_run {
        vec![]
    } else {
        ctx.fast_rollbacks.take(key, manifest, ctx.opts.waits.alarm_poll * 2, Instant::now())
    };
    // What this run wrote or read before (an operator request, another alias's marker) outranks
    // the hint: a rollout it moved is the reconcile's to decide.
    let now = ledger::seen(function_ref).unwrap_or_default();
    let (due, moved): (Vec<Due>, Vec<Due>) = due.into_iter().partition(|d| as_hinted(d, &now));
    let (mut made, mut missed) = (0, !moved.is_empty());
    for d in &due {
        match restore(ctx, key, function_ref, d).await {
            Some(true) => made += 1,
            Some(false) => missed = true,
            None => break,
        }
    }
    if made > 0 && !missed && made == due.len() {
        // Requeued at once, behind the keys already waiting (no reconcile ran: `Rolling` only
        // asks for the next one).
        ctx.rolling.set(key, false);
        return Outcome::Rolling(Duration::ZERO);
    }
    let outcome = if missed {
        let gate = ctx.aws.clients(key.role.as_deref(), &key.region).caller.gate;
        gate.rush(Until::Wrote(ALIAS_WRITE), reconcile).await
    } else {
        reconcile.await
    };
    if made > 0 && !matches!(outcome, Outcome::Failed { policy: crate::reconcile::ErrorPolicy::Fenced, .. }) {
        // The reconcile read the aliases put back here: their markers and reports are its own
        // (alarm still in ALARM, or a roll back cut short), never written and reported again.
        ctx.fast_rollbacks.take_restored(key);
    }
    outcome
}

/// True when what `seen` shows of `d`'s alias (nothing, or the same marker and revision) is
/// what the hint holds.
fn as_hinted(d: &Due, seen: &ledger::Seen) -> bool {
    // A full read that no longer shows the marker counts as a change too.
    let marker = match seen.markers.get(&d.alias) {
        Some(m) => *m == d.rollout.marker,
        None => !seen.markers_read,
    };
    let alias =
        seen.aliases.get(&d.alias).is_none_or(|a| a.as_ref().map(|a| &a.revision) == Some(&d.rollout.alias.revision));
    marker && alias
}

/// One fast roll back: the conditional alias write (urgent). Any failure writes nothing more:
/// the reconcile that follows reads the world and decides. Whether the alias was put back;
/// `None` when the lease is gone (nothing more is tried).
async fn restore(ctx: &Ctx, key: &FunctionKey, function_ref: &str, due: &Due) -> Option<bool> {
    let c = ctx.aws.clients(key.role.as_deref(), &key.region);
    let (alias, r, no_routing) = (&due.alias, &due.rollout, Routing::new());
    let write = c.lambda.update_alias_if(function_ref, alias, &r.marker.from, &no_routing, &r.alias.revision);
    // Urgent until this write: within the worker's rollout scope, else in one of its own.
    let written =
        if priority::is_urgent() { write.await } else { c.caller.gate.rush(Until::Wrote(ALIAS_WRITE), write).await };
    if let Err(e) = written {
        let result = match e.class {
            ErrorClass::Stale => "stale",
            ErrorClass::Fenced => "fenced",
            _ => "failed",
        };
        ctx.metrics.fast_rollback(result);
        tracing::info!(alias = %alias, alarm = %due.alarm, error = %e, "fast roll back not made: the reconcile decides");
        return (e.class != ErrorClass::Fenced).then_some(false);
    }
    ctx.metrics.fast_rollback("made");
    tracing::info!(alias = %alias, alarm = %due.alarm, to = %r.marker.from, "alias put back (fast roll back)");
    let restored =
        Restored { alias: alias.clone(), alarm: due.alarm.clone(), arn: due.arn.clone(), marker: r.marker.clone() };
    ctx.fast_rollbacks.restored(key, restored);
    Some(true)
}

/// The RolledBack markers of the aliases `key`'s last run put back (reason `alarm NAME in
/// ALARM`), each reported (alert, metric) and its release's members kicked once written. A
/// marker not written is left to the reconcile (the alias is already back on its old version).
/// The worker calls this first in a key's run, before operator requests and the reconcile.
pub async fn finish(ctx: &Ctx, key: &FunctionKey, manifest: &str) {
    let c = ctx.aws.clients(key.role.as_deref(), &key.region);
    for r in ctx.fast_rollbacks.take_restored(key) {
        let reason = format!("alarm {} in ALARM", r.alarm);
        let phase = Phase::RolledBack { reason: reason.clone() };
        let marker = Marker { phase, since_ms: now_ms(), ..r.marker.clone() };
        if let Err(e) = c.lambda.tag_marker(&r.arn, &r.alias, &marker).await {
            tracing::info!(alias = %r.alias, error = %e, "alias put back, its marker not written: the reconcile finishes the roll back");
            if e.class == ErrorClass::Fenced {
                return;
            }
            continue;
        }
        let store = ctx.store.read().unwrap();
        let releases = store.get(key).map(|m| store.releases(m)).unwrap_or_default();
        drop(store);
        super::rollouts::kick(ctx, key, &releases);
        let event = RolloutEvent::RolledBack { alias: r.alias.clone(), to: r.marker.to.clone(), reason };
        super::rollouts::report(ctx, key, manifest, &[event]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Gate;

    fn key(name: &str) -> FunctionKey {
        FunctionKey { role: None, region: "eu-west-1".into(), name: name.into() }
    }

    fn in_flight(alarms: &[&str]) -> InFlight {
        InFlight {
            marker: Marker {
                id: "r1".into(),
                from: "1".into(),
                to: "2".into(),
                phase: Phase::Shifting { step: 0 },
                since_ms: 0,
                gate: Gate::None,
                release: None,
            },
            alias: AliasState {
                function_version: "1".into(),
                description: String::new(),
                routing: Routing::from([("2".into(), 0.1)]),
                revision: "rev-a".into(),
            },
            alarms: alarms.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn firing(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|a| a.to_string()).collect()
    }

    const POLLS: Duration = Duration::from_secs(4);

    #[test]
    fn an_alias_whose_alarm_fires_is_due_once_with_the_revision_last_seen() {
        let f = FastRollbacks::default();
        let arn = Some("arn:aws:lambda:eu-west-1:1:function:pay".to_string());
        f.keep(&key("pay"), arn, "g1", BTreeMap::from([("live".into(), in_flight(&["errors"]))]));
        let t = Instant::now();
        assert!(!f.flag(&key("pay"), &firing(&["other"]), t));
        assert!(f.flag(&key("pay"), &firing(&["errors"]), t));
        assert!(f.flag(&key("pay"), &firing(&["errors"]), t), "a later poll refreshes, not duplicates");
        let due = f.take(&key("pay"), "g1", POLLS, t);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].alarm.as_str(), due[0].rollout.alias.revision.as_str()), ("errors", "rev-a"));
        assert!(!f.flag(&key("pay"), &firing(&["errors"]), t), "tried once: the reconcile decides after it");
        assert!(f.take(&key("pay"), "g1", POLLS, t).is_empty());
        assert_eq!(f.len(), 0, "a key with nothing in flight keeps no hint");
    }

    #[test]
    fn a_pending_roll_back_goes_when_it_is_old_or_its_hint_was_replaced() {
        let f = FastRollbacks::default();
        let arn = || Some("arn".to_string());
        let hint = || BTreeMap::from([("live".into(), in_flight(&["errors"]))]);
        let t = Instant::now();
        f.keep(&key("pay"), arn(), "g1", hint());
        f.flag(&key("pay"), &firing(&["errors"]), t);
        assert!(f.take(&key("pay"), "g1", POLLS, t + POLLS * 2).is_empty(), "older than two polls");
        f.flag(&key("pay"), &firing(&["errors"]), t);
        f.keep(&key("pay"), arn(), "g1", hint());
        assert!(f.take(&key("pay"), "g1", POLLS, t).is_empty(), "flagged for the hint a reconcile replaced");
        f.keep(&key("pay"), arn(), "g1", BTreeMap::new());
        assert_eq!(f.len(), 0);
    }

    #[test]
    fn a_manifest_edited_since_the_reconcile_leaves_the_roll_back_to_the_next_reconcile() {
        // Flagged on the alarms, target and deployment of the manifest the last reconcile read;
        // an edit since (the alarm dropped, the deployment removed) is the reconcile's to read.
        let f = FastRollbacks::default();
        f.keep(&key("pay"), Some("arn".into()), "g1", BTreeMap::from([("live".into(), in_flight(&["errors"]))]));
        let t = Instant::now();
        assert!(f.flag(&key("pay"), &firing(&["errors"]), t));
        assert!(f.take(&key("pay"), "g2", POLLS, t).is_empty());
        assert_eq!(f.len(), 0, "the hint of the old manifest goes");
    }

    #[test]
    fn a_rollout_this_run_moved_before_its_fast_roll_back_is_left_to_the_reconcile() {
        // An operator's abort before it in the same run (a marker-only write when the alias is on
        // its old version already) is not overwritten by an alarm's marker and reported twice.
        let due =
            Due { alias: "live".into(), alarm: "errors".into(), arn: "arn".into(), rollout: in_flight(&["errors"]) };
        let mut seen = ledger::Seen::default();
        assert!(as_hinted(&due, &seen), "nothing read or written since");
        seen.markers.insert("other".into(), due.rollout.marker.clone());
        assert!(as_hinted(&due, &seen), "another alias's marker");
        seen.aliases.insert("live".into(), Some(due.rollout.alias.clone()));
        assert!(as_hinted(&due, &seen), "the alias read again, unchanged");
        let aborted = Marker {
            phase: Phase::RolledBack { reason: "aborted by the operator".into() },
            ..due.rollout.marker.clone()
        };
        seen.markers.insert("live".into(), aborted);
        assert!(!as_hinted(&due, &seen), "its marker written since");
        seen.markers.remove("live");
        seen.markers_read = true;
        assert!(!as_hinted(&due, &seen), "its marker read gone");
        seen.markers_read = false;
        seen.aliases.insert("live".into(), Some(AliasState { revision: "rev-b".into(), ..due.rollout.alias.clone() }));
        assert!(!as_hinted(&due, &seen), "its alias written since");
        seen.aliases.insert("live".into(), None);
        assert!(!as_hinted(&due, &seen), "its alias deleted");
    }

    #[test]
    fn keys_that_leave_the_store_or_the_shard_are_forgotten() {
        let f = FastRollbacks::default();
        for name in ["a", "b"] {
            f.keep(&key(name), Some("arn".into()), "g1", BTreeMap::from([("live".into(), in_flight(&["x"]))]));
            f.flag(&key(name), &firing(&["x"]), Instant::now());
        }
        let put_back = |alias: &str| Restored {
            alias: alias.into(),
            alarm: "x".into(),
            arn: "arn".into(),
            marker: in_flight(&["x"]).marker,
        };
        f.restored(&key("c"), put_back("live"));
        f.restored(&key("c"), put_back("live"));
        f.retain(|k| k.name == "a" || k.name == "c");
        assert_eq!(f.len(), 1);
        assert!(f.take(&key("b"), "g1", POLLS, Instant::now()).is_empty());
        assert_eq!(f.take(&key("a"), "g1", POLLS, Instant::now()).len(), 1);
        assert_eq!(f.take_restored(&key("c")), [put_back("live")], "one per alias, taken once");
        assert!(f.take_restored(&key("c")).is_empty());
        f.restored(&key("c"), put_back("live"));
        f.retain(|k| k.name == "a");
        assert!(f.take_restored(&key("c")).is_empty(), "a key that left takes its restored aliases along");
        f.restored(&key("c"), put_back("live"));
        f.clear();
        assert!(f.take_restored(&key("c")).is_empty(), "a new term starts empty");
    }
}
