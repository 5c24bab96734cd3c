//! Release waves: aliases of several manifests (one function in several regions and accounts, or
//! several functions) rolled out in ordered waves, their state read back from each member's marker.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{FunctionKey, Marker, Phase};

/// At most this many members (manifest aliases) in one release: each member reads the others.
pub const MAX_RELEASE_MEMBERS: usize = 50;
/// Waves are numbered 1 to this.
pub const MAX_WAVE: u32 = 20;
/// The longest bake after a wave.
pub const MAX_BAKE_MS: u64 = 24 * 3_600_000;
/// How often a member that waits for an earlier wave reads it again (a member of the same process
/// is woken at once when a peer moves).
pub const RELEASE_POLL_MS: i64 = 5_000;
/// A roll back the release made (not the member's own failure) starts its reason with this.
pub const RELEASE_REASON_PREFIX: &str = "release ";

/// What a failure in a wave does to the waves already done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OnFailure {
    /// The failed wave rolls back; later waves never start; earlier waves keep the new version.
    #[default]
    Halt,
    /// As `halt`, and the waves already done roll back too.
    RollbackAll,
}

/// One member of a release: a manifest's alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseMember {
    pub manifest: String,
    pub alias: String,
    pub wave: u32,
    /// The bake this member asks after its wave (a wave bakes for its members' longest).
    pub bake_ms: u64,
    #[serde(skip)]
    pub key: FunctionKey,
    #[serde(skip)]
    pub function_ref: String,
    /// The member manifest's generation: it has applied its manifest when its tag says so.
    #[serde(skip)]
    pub generation: String,
}

/// Where a member stands, as another member reads it (its generation tag and its marker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum PeerState {
    /// Not read yet, or the read failed (why).
    Unknown { why: String },
    /// The function is missing or has not applied its current manifest yet.
    Behind,
    /// Applied, no rollout: already at its target.
    Idle,
    /// Waits for its wave.
    Queued,
    /// Its rollout is moving traffic.
    Rolling,
    /// Its rollout finished at `at_ms` (in the release `release`).
    Done {
        at_ms: i64,
        #[serde(skip)]
        release: Option<String>,
    },
    /// Rolled back: on its own (`by_release` false: an alarm, the judge, a hook, an operator)
    /// or because the release failed elsewhere.
    Failed {
        reason: String,
        by_release: bool,
        #[serde(skip)]
        release: Option<String>,
    },
}

impl PeerState {
    /// A member's state from whether it applied its manifest and its alias's marker.
    pub fn of(applied: bool, marker: Option<&Marker>) -> PeerState {
        if !applied {
            return PeerState::Behind;
        }
        let Some(m) = marker else { return PeerState::Idle };
        match &m.phase {
            Phase::Queued => PeerState::Queued,
            Phase::PreTraffic | Phase::Shifting { .. } | Phase::PostTraffic => PeerState::Rolling,
            Phase::Done => PeerState::Done { at_ms: m.since_ms, release: m.release.clone() },
            Phase::RolledBack { reason } => PeerState::Failed {
                reason: reason.clone(),
                by_release: reason.starts_with(RELEASE_REASON_PREFIX),
                release: m.release.clone(),
            },
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            PeerState::Unknown { .. } => "not read",
            PeerState::Behind => "applying",
            PeerState::Idle => "idle",
            PeerState::Queued => "queued",
            PeerState::Rolling => "rolling",
            PeerState::Done { .. } => "done",
            PeerState::Failed { by_release: false, .. } => "failed",
            PeerState::Failed { by_release: true, .. } => "rolled back",
        }
    }
}

/// The release an alias belongs to, with every member's state (this one's from its own marker,
/// the others' read before planning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub name: String,
    /// A short hash of every member's manifest and generation: a commit that changes any member
    /// is a new release (a member done in an earlier one is not rolled back by this one).
    pub id: String,
    pub on_failure: OnFailure,
    /// This alias's index in `members`.
    pub me: usize,
    /// In wave order, then manifest and alias.
    pub members: Vec<ReleaseMember>,
    /// Aligned with `members`; this alias's own entry is not read (its marker is in the plan).
    pub peers: Vec<PeerState>,
}

impl Release {
    pub fn member(&self) -> &ReleaseMember {
        &self.members[self.me]
    }

    /// A wave's bake: its members' longest.
    pub fn bake_ms(&self, wave: u32) -> u64 {
        self.members.iter().filter(|m| m.wave == wave).map(|m| m.bake_ms).max().unwrap_or(0)
    }

    /// When this member's wave bake ends, its rollout done at `m.since_ms` (a tag's time, never
    /// later than `now`).
    pub fn bake_end(&self, m: &Marker, now: i64) -> i64 {
        let bake = self.bake_ms(self.member().wave).min(i64::MAX as u64) as i64;
        m.since_ms.min(now).saturating_add(bake)
    }

    /// The members other than this one, with their states.
    pub fn others(&self) -> impl Iterator<Item = (&ReleaseMember, &PeerState)> {
        self.members.iter().zip(&self.peers).enumerate().filter(|(i, _)| *i != self.me).map(|(_, p)| p)
    }

    /// The first member that failed on its own (not by the release), with its reason and the
    /// release its marker was written in.
    pub fn origin_failure(&self) -> Option<(&ReleaseMember, &str, Option<&str>)> {
        self.others().find_map(|(m, s)| match s {
            PeerState::Failed { reason, by_release: false, release } => Some((m, reason.as_str(), release.as_deref())),
            _ => None,
        })
    }
}

/// A release as `/status`, the page and `plan` show it: every member's state by wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseView {
    pub name: String,
    /// This alias's wave.
    pub wave: u32,
    pub waves: u32,
    /// `rolling wave 2 of 3`, `halted at wave 2: …`, `done`.
    pub state: String,
    pub members: Vec<ReleaseMemberView>,
}

impl ReleaseView {
    /// One line: `release shop wave 2 of 3 in progress (wave 1: shop-eu eu-west-1 done; …)`.
    pub fn line(&self) -> String {
        let mut waves: Vec<String> = vec![];
        let mut last = None;
        for m in &self.members {
            let member = format!("{} {} {}", m.manifest, m.region, m.state);
            if last == Some(m.wave) {
                if let Some(w) = waves.last_mut() {
                    w.push_str(&format!(", {member}"));
                }
            } else {
                waves.push(format!("wave {}: {member}", m.wave));
                last = Some(m.wave);
            }
        }
        format!("release {} {} ({})", self.name, self.state, waves.join("; "))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseMemberView {
    pub manifest: String,
    pub alias: String,
    pub region: String,
    pub wave: u32,
    pub state: String,
}
