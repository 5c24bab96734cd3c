//! Reading the other members of a release: each one's generation tag and rollout marker, with
//! one read per member per poll in the process however many members ask.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Aws;
use crate::types::{AppliedGeneration, FunctionKey, Marker, PeerState, Release};

/// A read of a member is reused this long by the other members of the process (a release's
/// poll; a member that moves is read again at once: its reconcile forgets its read). A stale read
/// shows less progress, never more.
pub const PEER_READ_TTL: Duration = Duration::from_millis(crate::types::RELEASE_POLL_MS as u64);

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

/// How many members are read at once, and how long one read may take.
const PEER_READS_AT_ONCE: usize = 8;
const PEER_READ_TIMEOUT: Duration = Duration::from_secs(10);

impl Aws {
    /// Fills `r.peers` with the states this member needs: the members of its wave and the earlier
    /// ones (with `rollbackAll`, every member), at most 8 at once, each within 10 s. The others,
    /// and this member's own entry, are left `Unknown`.
    pub async fn read_release(&self, r: &mut Release) {
        use futures::StreamExt;
        let me = r.member().wave;
        let all = r.on_failure == crate::types::OnFailure::RollbackAll;
        let wanted: Vec<usize> =
            (0..r.members.len()).filter(|i| *i != r.me && (all || r.members[*i].wave <= me)).collect();
        let members = &r.members;
        let states: Vec<(usize, PeerState)> = futures::stream::iter(wanted)
            .map(|i| async move {
                let m = &members[i];
                let read = tokio::time::timeout(PEER_READ_TIMEOUT, self.read_member(&m.key, &m.function_ref)).await;
                let state = match read {
                    Err(_) => PeerState::Unknown { why: "the read timed out".into() },
                    Ok(Ok(None)) => PeerState::Behind,
                    Ok(Ok(Some((generation, markers)))) => {
                        PeerState::of(generation.is(&m.generation), markers.get(&m.alias))
                    }
                    Ok(Err(why)) => PeerState::Unknown { why },
                };
                (i, state)
            })
            .buffer_unordered(PEER_READS_AT_ONCE)
            .collect()
            .await;
        for (i, state) in states {
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
        // In a scope of its own: a member of the same name in another region or account must not
        // enter the reconciling function's record (`ledger`, keyed by function name).
        super::ledger::scope(async {
            let c = self.clients(key.role.as_deref(), &key.region);
            let excerpt = |e: super::AwsError| e.to_string().chars().take(200).collect::<String>();
            let Some(f) = c.lambda.get_function(function).await.map_err(excerpt)? else { return Ok(None) };
            if f.applied_generation == AppliedGeneration::NotReturned {
                let t = c.lambda.list_tags(&f.arn).await.map_err(excerpt)?;
                return Ok(Some((t.generation, t.markers)));
            }
            Ok(Some((f.applied_generation, f.markers)))
        })
        .await
    }
}
