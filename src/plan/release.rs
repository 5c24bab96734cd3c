//! Release waves in the plan (pure): whether a member may start its rollout, waits for its
//! wave, or rolls back because the release failed elsewhere; and the release as status shows it.

use crate::types::{
    Marker, OnFailure, PeerState, Phase, Release, ReleaseMemberView, ReleaseView, RELEASE_POLL_MS,
    RELEASE_REASON_PREFIX,
};

/// Whether a member whose rollout would start may start now.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    Go,
    /// Not yet: read the release again at `until_ms` (a bake's end, or the next poll).
    Wait {
        until_ms: i64,
        why: String,
    },
    /// A member failed: this one never starts (its target is held; the reason says why).
    Halt(String),
}

fn excerpt(text: &str) -> String {
    text.chars().take(120).collect()
}

/// Why the release failed: its first member that failed on its own (the reason of a roll back
/// the release makes, starting with [`RELEASE_REASON_PREFIX`]).
fn failure(r: &Release) -> Option<String> {
    let (m, reason, _) = r.origin_failure()?;
    Some(format!(
        "{RELEASE_REASON_PREFIX}{} failed in wave {}: {} ({}) rolled back: {}",
        r.name,
        m.wave,
        m.manifest,
        m.key.region,
        excerpt(reason)
    ))
}

/// The member's turn: halted by a failure in its wave or an earlier one; waiting while a member
/// of an earlier wave has not finished, or one of its wave or an earlier one cannot be read (it
/// may have failed), then for the earlier waves' bake; else go. Later waves never hold it.
pub fn turn(r: &Release, now: i64) -> Turn {
    if let Some(reason) = failure(r).filter(|_| r.origin_failure().is_some_and(|(m, _, _)| m.wave <= r.member().wave)) {
        return Turn::Halt(reason);
    }
    let me = r.member();
    let poll = now + RELEASE_POLL_MS;
    let mut bake_until = now;
    for (m, s) in r.others().filter(|(m, _)| m.wave <= me.wave) {
        let unknown = matches!(s, PeerState::Unknown { .. });
        if m.wave == me.wave && !unknown {
            continue;
        }
        match s {
            PeerState::Idle => {}
            // A marker's `at` comes from a tag: never later than now.
            PeerState::Done { at_ms, .. } => {
                let bake = r.bake_ms(m.wave).min(i64::MAX as u64) as i64;
                bake_until = bake_until.max(at_ms.min(&now).saturating_add(bake));
            }
            PeerState::Unknown { why } => {
                let why = format!("cannot read {} ({}): {}", m.manifest, m.key.region, excerpt(why));
                return Turn::Wait { until_ms: poll, why };
            }
            other => {
                let why = format!("wave {}: {} ({}) is {}", m.wave, m.manifest, m.key.region, other.label());
                return Turn::Wait { until_ms: poll, why };
            }
        }
    }
    if bake_until > now {
        let why = format!("an earlier wave bakes until {}", crate::types::format_time(bake_until / 1000));
        return Turn::Wait { until_ms: bake_until, why };
    }
    Turn::Go
}

/// Why a member in flight or done rolls back because another member failed: one of its wave or
/// an earlier one (in flight), one of its own wave (done in this release), or any (`rollbackAll`).
pub fn must_roll_back(r: &Release, m: &Marker) -> Option<String> {
    let (peer, _, failed_in) = r.origin_failure()?;
    let me = r.member();
    let all = r.on_failure == OnFailure::RollbackAll;
    // A done member rolls back only for a failure of the release it finished in.
    let this_release = m.release.as_deref() == Some(r.id.as_str()) && failed_in == Some(r.id.as_str());
    let hit = match m.phase {
        Phase::Done => this_release && (all || peer.wave == me.wave),
        Phase::PreTraffic | Phase::Shifting { .. } | Phase::PostTraffic => all || peer.wave <= me.wave,
        Phase::Queued | Phase::RolledBack { .. } => false,
    };
    hit.then(|| failure(r)).flatten()
}

/// A member the release rolled back starts again once every member reads well and none failed
/// on its own any more (retried, or given a new target).
pub fn lifted(r: &Release, m: &Marker) -> bool {
    let by_release = matches!(&m.phase, Phase::RolledBack { reason } if reason.starts_with(RELEASE_REASON_PREFIX));
    let (me, all) = (r.member().wave, r.on_failure == OnFailure::RollbackAll);
    let unknown = r.others().any(|(p, s)| (all || p.wave <= me) && matches!(s, PeerState::Unknown { .. }));
    by_release && r.origin_failure().is_none() && !unknown
}

/// Whether another member still moves (so a done member keeps reading the release): with
/// `rollbackAll` any unfinished member, else an unfinished member of its own wave.
pub fn in_flight(r: &Release) -> bool {
    let me = r.member();
    let all = r.on_failure == OnFailure::RollbackAll;
    r.others().any(|(m, s)| {
        (all || m.wave == me.wave) && !matches!(s, PeerState::Idle | PeerState::Done { .. } | PeerState::Failed { .. })
    })
}

/// The next read of the release while it waits or moves elsewhere.
pub fn poll(now: i64) -> i64 {
    now + RELEASE_POLL_MS
}

/// The release as a whole, with this member's own state (`own`).
pub fn view(r: &Release, own: &PeerState) -> ReleaseView {
    let state_of = |i: usize| if i == r.me { own } else { &r.peers[i] };
    let members: Vec<ReleaseMemberView> = (r.members.iter().enumerate())
        .map(|(i, m)| ReleaseMemberView {
            manifest: m.manifest.clone(),
            alias: m.alias.clone(),
            region: m.key.region.clone(),
            wave: m.wave,
            state: state_of(i).label().to_string(),
        })
        .collect();
    let waves: Vec<u32> = {
        let mut w: Vec<u32> = r.members.iter().map(|m| m.wave).collect();
        w.dedup();
        w
    };
    let failed = (0..r.members.len()).find(|&i| matches!(state_of(i), PeerState::Failed { by_release: false, .. }));
    // A member not read (a later wave than this one's) decides nothing here.
    let open = (0..r.members.len())
        .find(|&i| !matches!(state_of(i), PeerState::Idle | PeerState::Done { .. } | PeerState::Unknown { .. }));
    let state = match (failed, open) {
        (Some(i), _) => format!(
            "halted: {} ({}) in wave {} rolled back",
            r.members[i].manifest, r.members[i].key.region, r.members[i].wave
        ),
        (None, Some(i)) => {
            let n = waves.iter().position(|w| *w == r.members[i].wave).unwrap_or(0) + 1;
            format!("wave {n} of {} in progress", waves.len())
        }
        (None, None) => "done".to_string(),
    };
    ReleaseView { name: r.name.clone(), wave: r.member().wave, waves: waves.len() as u32, state, members }
}

#[cfg(test)]
#[path = "release_tests.rs"]
mod tests;
