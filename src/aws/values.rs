//! One region's snapshot of the values manifests take from outside git (SSM parameters, Secrets Manager secrets): read once per resync for every function, and a function's new references on their own.

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

    /// Every reference the region's manifests use.
    pub fn set_wanted(&self, refs: Vec<R>) {
        *self.wanted.lock().unwrap() = refs;
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
        Ok(cache.values.iter().filter(|(k, _)| out.contains(*k)).map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}
