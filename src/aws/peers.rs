//! Reading the other members of a release: each one's generation tag and rollout marker, with
//! one read of each (GetFunction for the tags, ListAliases for the markers) per member per second
//! in the process however many members ask.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Aws;
use crate::types::{AppliedGeneration, FunctionKey, Marker, PeerState, Release};

/// A read of a member is reused this long by the other members of the process.
pub const PEER_READ_TTL: Duration = Duration::from_secs(1);

/// What a member's function says: missing, or its generation and markers.
type Read = Result<Option<(AppliedGeneration, std::collections::BTreeMap<String, Marker>)>, String>;

/// The reads of release members, by function key (at most one per member of the releases).
#[derive(Default)]
pub struct PeerReads {
    reads: Mutex<HashMap<FunctionKey, (Instant, Read)>>,
}

impl PeerReads {
    /// Forgets `key`'s read (its reconcile moved its rollout: the next member reads it anew).
    pub fn forget(&self, key: &FunctionKey) {
        self.reads.lock().unwrap().remove(key);
    }
}

impl Aws {
    /// Fills `r.peers` with every other member's state (this member's own entry is left alone).
    pub async fn read_release(&self, r: &mut Release) {
        for i in (0..r.members.len()).filter(|i| *i != r.me) {
            let m = &r.members[i];
            let state = match self.read_member(&m.key, &m.function_ref).await {
                Ok(None) => PeerState::Behind,
                Ok(Some((generation, markers))) => PeerState::of(generation.is(&m.generation), markers.get(&m.alias)),
                Err(why) => PeerState::Unknown { why },
            };
            r.peers[i] = state;
        }
    }

    async fn read_member(&self, key: &FunctionKey, function: &str) -> Read {
        let cached = self.peers.reads.lock().unwrap().get(key).filter(|(at, _)| at.elapsed() < PEER_READ_TTL).cloned();
        if let Some((_, read)) = cached {
            return read;
        }
        let read = self.read_member_now(key, function).await;
        let mut reads = self.peers.reads.lock().unwrap();
        reads.retain(|_, (at, _)| at.elapsed() < PEER_READ_TTL);
        reads.insert(key.clone(), (Instant::now(), read.clone()));
        read
    }

    async fn read_member_now(&self, key: &FunctionKey, function: &str) -> Read {
        let c = self.clients(key.role.as_deref(), &key.region);
        let excerpt = |e: super::AwsError| e.to_string().chars().take(200).collect::<String>();
        let Some(f) = c.lambda.get_function(function).await.map_err(excerpt)? else { return Ok(None) };
        let (generation, mut markers) = match f.applied_generation {
            AppliedGeneration::NotReturned => {
                let t = c.lambda.list_tags(&f.arn).await.map_err(excerpt)?;
                (t.generation, t.markers)
            }
            g => (g, f.markers),
        };
        // A marker in the alias description is newer than a tag of the same alias.
        for (alias, a) in c.lambda.list_aliases(function).await.map_err(excerpt)? {
            if let (_, Some(m)) = crate::types::split_description(&a.description) {
                markers.insert(alias, m);
            }
        }
        Ok(Some((generation, markers)))
    }
}
