//! One region's snapshot of the values manifests take from outside git (SSM parameters, Secrets Manager secrets): read once per resync for every function, and a function's new references on their own; urgent work never waits for a refresh.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::call::{AwsError, Caller};
use super::snapshot::{Decision, Freshness};
use crate::types::Parameter;

struct Cache {
    fresh: Freshness,
    /// The references read into `values` (by their key); one read but absent does not exist.
    read: HashSet<String>,
    values: BTreeMap<String, Parameter>,
}

/// The snapshot of one source in one region. `R` is what a manifest names (a parameter name, a
/// secret reference), `key` the string it is cached under.
pub struct Values<R> {
    cache: Arc<tokio::sync::Mutex<Cache>>,
    /// Every reference the region's manifests use (read together on a refresh).
    wanted: Arc<Mutex<Vec<R>>>,
    key: fn(&R) -> String,
}

impl<R> Clone for Values<R> {
    fn clone(&self) -> Self {
        Values { cache: self.cache.clone(), wanted: self.wanted.clone(), key: self.key }
    }
}

impl<R: Clone + Ord + Send + Sync> Values<R> {
    pub fn new(stale_after: Duration, key: fn(&R) -> String) -> Self {
        let cache = Cache { fresh: Freshness::new(stale_after), read: HashSet::new(), values: BTreeMap::new() };
        Values { cache: Arc::new(tokio::sync::Mutex::new(cache)), wanted: Arc::default(), key }
    }

    /// Every reference the region's manifests use. When one the snapshot read is no longer
    /// among them, the snapshot is dropped (its values, secrets among them, are not kept for a
    /// manifest that no longer names them); a resolve under way drops it at its next refresh.
    pub fn set_wanted(&self, refs: Vec<R>) {
        let keep: HashSet<String> = refs.iter().map(self.key).collect();
        *self.wanted.lock().unwrap() = refs;
        if let Ok(mut cache) = self.cache.try_lock() {
            if cache.read.iter().any(|k| !keep.contains(k)) {
                cache.values.clear();
                cache.read.clear();
            }
        }
    }

    /// The entries whose key is in `out` for `consumer` (a function), from the snapshot. A
    /// refresh (`all`: every wanted reference, read as the caller's shared work that every
    /// function waits on) answers the values and the references it read; references not read
    /// since (new ones, or a batch refused as a whole) are read with `some`, their error
    /// `consumer`'s alone.
    pub async fn resolve<A, FA, S, FS>(
        &self,
        (caller, consumer): (&Caller, &str),
        refs: &[R],
        out: &HashSet<String>,
        all: A,
        some: S,
    ) -> Result<BTreeMap<String, Parameter>, AwsError>
    where
        A: FnOnce(Vec<R>) -> FA,
        FA: Future<Output = Result<(BTreeMap<String, Parameter>, HashSet<String>), AwsError>> + Send,
        S: FnOnce(Vec<R>) -> FS,
        FS: Future<Output = Result<BTreeMap<String, Parameter>, AwsError>>,
    {
        if refs.is_empty() {
            return Ok(BTreeMap::new());
        }
        // Looked up by the function's own keys: walking the region's whole snapshot for each
        // function made a resync quadratic in the number of functions.
        let pick = |values: &BTreeMap<String, Parameter>| -> BTreeMap<String, Parameter> {
            out.iter().filter_map(|k| Some((k.clone(), values.get(k)?.clone()))).collect()
        };
        if super::priority::is_urgent() {
            // Urgent work (an edit) never waits for a refresh: the snapshot when it serves as it
            // is, else this function's own references, read directly (and not kept).
            if let Ok(mut cache) = self.cache.try_lock() {
                let all_read = refs.iter().all(|r| cache.read.contains(&(self.key)(r)));
                if all_read && cache.fresh.decide(consumer, None) == Decision::Use {
                    return Ok(pick(&cache.values));
                }
            }
            return Ok(pick(&some(refs.to_vec()).await?));
        }
        let mut cache = self.cache.lock().await;
        if cache.fresh.decide(consumer, None) == Decision::Refresh {
            let started = Instant::now();
            let mut every: Vec<R> = self.wanted.lock().unwrap().clone();
            every.extend(refs.iter().cloned());
            every.sort();
            every.dedup();
            (cache.values, cache.read) = caller.shared(all(every)).await?;
            cache.fresh.refreshed(started, consumer);
        }
        let missing: Vec<R> = refs.iter().filter(|r| !cache.read.contains(&(self.key)(r))).cloned().collect();
        if !missing.is_empty() {
            let keys: Vec<String> = missing.iter().map(self.key).collect();
            let found = some(missing).await?;
            cache.values.extend(found);
            cache.read.extend(keys);
        }
        Ok(pick(&cache.values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parameter(value: &str) -> Parameter {
        Parameter { value: value.into(), secure: true }
    }

    #[tokio::test]
    async fn a_value_no_manifest_names_any_more_leaves_the_snapshot() {
        let values: Values<String> = Values::new(Duration::from_secs(3600), String::clone);
        let caller = Caller::new(0, Default::default());
        let refs = vec!["/app/a".to_string(), "/app/b".to_string()];
        values.set_wanted(refs.clone());
        let out: HashSet<String> = refs.iter().cloned().collect();
        let all = |every: Vec<String>| async move {
            let read: HashSet<String> = every.iter().cloned().collect();
            Ok((every.iter().map(|k| (k.clone(), parameter(&format!("secret of {k}")))).collect(), read))
        };
        let none = |_: Vec<String>| async { Ok(BTreeMap::new()) };
        let got = values.resolve((&caller, "f"), &refs, &out, all, none).await.unwrap();
        assert_eq!(got.len(), 2);
        values.set_wanted(vec!["/app/a".to_string()]);
        let cache = values.cache.lock().await;
        assert!(!cache.values.contains_key("/app/b"), "the secret of a reference no manifest names is dropped");
        assert!(!cache.read.contains("/app/b"));
    }

    type Read = Result<(BTreeMap<String, Parameter>, HashSet<String>), AwsError>;

    fn region(every: &[String]) -> Read {
        let read: HashSet<String> = every.iter().cloned().collect();
        Ok((every.iter().map(|k| (k.clone(), parameter("snapshot"))).collect(), read))
    }

    /// Resolves `refs` for `consumer` as urgent work; (values, references read on their own).
    async fn urgent(values: &Values<String>, consumer: &str, refs: &[String]) -> (BTreeMap<String, Parameter>, usize) {
        let caller = Caller::new(0, Default::default());
        let out: HashSet<String> = refs.iter().cloned().collect();
        let direct = Arc::new(Mutex::new(0));
        let d = direct.clone();
        let some = move |missing: Vec<String>| async move {
            *d.lock().unwrap() += missing.len();
            Ok(missing.iter().map(|k| (k.clone(), parameter("direct"))).collect())
        };
        let all = |every: Vec<String>| async move { region(&every) };
        let gate = caller.gate.clone();
        let got = gate.urgent(values.resolve((&caller, consumer), refs, &out, all, some)).await.unwrap();
        let n = *direct.lock().unwrap();
        (got, n)
    }

    #[tokio::test]
    async fn an_edit_does_not_wait_for_a_refresh_under_way_and_reads_its_own_references() {
        let values: Values<String> = Values::new(Duration::from_secs(3600), String::clone);
        let refs = vec!["/app/a".to_string()];
        values.set_wanted(refs.clone());
        let (release, hold) = tokio::sync::oneshot::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
        let v = values.clone();
        let r = refs.clone();
        let refresh = tokio::spawn(async move {
            let caller = Caller::new(0, Default::default());
            let out: HashSet<String> = r.iter().cloned().collect();
            let all = |every: Vec<String>| async move {
                started_tx.send(()).unwrap();
                hold.await.unwrap(); // a refresh that takes its time
                region(&every)
            };
            let none = |_: Vec<String>| async { Ok(BTreeMap::new()) };
            v.resolve((&caller, "resync"), &r, &out, all, none).await.unwrap()
        });
        started.await.unwrap();
        // Bounded only so that a regression fails instead of hanging: the refresh never ends first.
        let edit = tokio::time::timeout(Duration::from_secs(30), urgent(&values, "edited", &refs));
        let (got, direct) = edit.await.expect("the edit waited for the refresh");
        assert_eq!((got["/app/a"].value.as_str(), direct), ("direct", 1), "read its own, not waited");
        release.send(()).unwrap();
        assert_eq!(refresh.await.unwrap()["/app/a"].value, "snapshot");
    }

    #[tokio::test]
    async fn an_edit_uses_a_snapshot_that_serves_and_reads_its_own_part_of_a_stale_one() {
        let values: Values<String> = Values::new(Duration::from_secs(3600), String::clone);
        let refs = vec!["/app/a".to_string()];
        values.set_wanted(refs.clone());
        let (got, direct) = urgent(&values, "edited", &refs).await;
        assert_eq!((got["/app/a"].value.as_str(), direct), ("direct", 1), "no snapshot yet: no region read");
        let caller = Caller::new(0, Default::default());
        let out: HashSet<String> = refs.iter().cloned().collect();
        let none = |_: Vec<String>| async { Ok(BTreeMap::new()) };
        let all = |every: Vec<String>| async move { region(&every) };
        values.resolve((&caller, "resync"), &refs, &out, all, none).await.unwrap();
        let (got, direct) = urgent(&values, "edited", &refs).await;
        assert_eq!((got["/app/a"].value.as_str(), direct), ("snapshot", 0), "the young snapshot serves");
        let stale: Values<String> = Values::new(Duration::ZERO, String::clone);
        stale.set_wanted(refs.clone());
        let all = |every: Vec<String>| async move { region(&every) };
        let none = |_: Vec<String>| async { Ok(BTreeMap::new()) };
        stale.resolve((&caller, "edited"), &refs, &out, all, none).await.unwrap();
        let (got, direct) = urgent(&stale, "edited", &refs).await;
        assert_eq!((got["/app/a"].value.as_str(), direct), ("direct", 1), "past its bound: not served");
    }
}
