//! Progressive delivery values: a deployment's strategy expanded into steps, and the rollout
//! marker the controller keeps in a function tag so a rollout survives a restart.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Routing;

/// SAM's predefined DeploymentPreference types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Strategy {
    Canary10Percent5Minutes,
    Canary10Percent10Minutes,
    Canary10Percent15Minutes,
    Canary10Percent30Minutes,
    Linear10PercentEvery1Minute,
    Linear10PercentEvery2Minutes,
    Linear10PercentEvery3Minutes,
    Linear10PercentEvery10Minutes,
    AllAtOnce,
}

impl Strategy {
    /// The steps before 100 %: (weight in percent, pause in seconds).
    pub fn steps(self) -> Vec<Step> {
        let canary = |minutes: u64| vec![Step { percent: 10.0, pause_ms: minutes * 60_000, approval: None }];
        let linear = |minutes: u64| {
            (1..=9)
                .map(|i| Step { percent: f64::from(i * 10), pause_ms: minutes * 60_000, approval: None })
                .collect::<Vec<_>>()
        };
        match self {
            Strategy::Canary10Percent5Minutes => canary(5),
            Strategy::Canary10Percent10Minutes => canary(10),
            Strategy::Canary10Percent15Minutes => canary(15),
            Strategy::Canary10Percent30Minutes => canary(30),
            Strategy::Linear10PercentEvery1Minute => linear(1),
            Strategy::Linear10PercentEvery2Minutes => linear(2),
            Strategy::Linear10PercentEvery3Minutes => linear(3),
            Strategy::Linear10PercentEvery10Minutes => linear(10),
            Strategy::AllAtOnce => vec![],
        }
    }
}

/// One traffic step: the new version's share, held for `pause_ms` before the next step, or,
/// with `approval`, until a person approves it (`promote`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub percent: f64,
    pub pause_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

/// A manual step (`pause: manual`): how long it waits for approval, and what then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// `None`: it waits until approved (or the manifest changes).
    pub timeout_ms: Option<u64>,
    pub on_timeout: OnTimeout,
}

/// What a manual step does when nobody approved it in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OnTimeout {
    /// Roll back to the old version (the default: nobody said yes).
    Rollback,
    /// Go on as if approved.
    Promote,
}

/// Where a rollout stands with its step's approval (kept in the marker, so it survives a
/// restart and a failover).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Gate {
    /// The step is not manual.
    #[default]
    None,
    /// A manual step waits for `promote`.
    Waiting,
    /// `promote` approved it: the next step follows.
    Approved,
}

/// A deployment, resolved: the steps before 100 %, the alarms, the hooks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The strategy's name, or `custom`.
    pub strategy: String,
    pub steps: Vec<Step>,
    pub alarms: Vec<String>,
    pub pre_traffic: Option<String>,
    pub post_traffic: Option<String>,
    pub hook_timeout_ms: u64,
    /// `onRoleOrDeadLetterChange: switch`: versions that cannot share traffic switch at once.
    pub switch_if_incompatible: bool,
    /// The canary judge (`analysis`): the new version's own metrics against the old one's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<super::Analysis>,
}

/// Where a rollout is. The alias's expected state follows from it (see `expected`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "phase")]
pub enum Phase {
    /// The preTraffic hook runs; no traffic has moved.
    PreTraffic,
    /// Step `step` (0-based) of the deployment's steps is in place.
    Shifting { step: usize },
    /// 100 % is on the new version; the postTraffic hook runs.
    PostTraffic,
    /// Rolled back to `from`; the target is held until the manifest changes it or `retry`.
    RolledBack { reason: String },
    /// A release member waits for its wave; no traffic has moved.
    Queued,
    /// A release member's rollout finished (100 % on `to`): its wave's bake counts from `since`.
    Done,
}

/// The rollout marker: which rollout, from and to which version, in which phase since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Marker {
    pub id: String,
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub phase: Phase,
    /// When the phase began, milliseconds since the epoch.
    pub since_ms: i64,
    /// A manual step's approval.
    #[serde(skip_serializing_if = "is_no_gate")]
    pub gate: Gate,
    /// The release (its id) a release member's marker was written in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
}

fn is_no_gate(g: &Gate) -> bool {
    *g == Gate::None
}

/// A step's weight as the alias's routing holds it: a fraction, to six decimals.
pub fn step_weight(percent: f64) -> f64 {
    (percent / 100.0 * 1e6).round() / 1e6
}

/// The prefix of the tag that holds an alias's rollout marker (`…/rollout/live`). AWS tag keys
/// are at most 128 characters, so a deployment's alias name is at most 99.
pub const MARKER_TAG_PREFIX: &str = "lambda-reconciler.io/rollout/";

pub fn marker_tag(alias: &str) -> String {
    format!("{MARKER_TAG_PREFIX}{alias}")
}

/// AWS tag values: "The value can contain only Unicode letters, digits, white space, and any of
/// these symbols: _ . : / = + - @" and at most 256 characters.
pub fn tag_safe(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| if c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c) { c } else { '_' })
        .take(max)
        .collect()
}

impl Marker {
    /// The tag value: `to=7 from=6 id=… at=… phase=shift step=2` (reason last: it may hold spaces).
    pub fn encode(&self) -> String {
        let mut head = format!("to={} from={} id={} at={}", self.to, self.from, self.id, self.since_ms);
        if let Some(r) = &self.release {
            head.push_str(&format!(" rel={r}"));
        }
        let out = match &self.phase {
            Phase::PreTraffic => format!("{head} phase=pre"),
            Phase::Shifting { step } => match self.gate {
                Gate::None => format!("{head} phase=shift step={step}"),
                Gate::Waiting => format!("{head} phase=shift step={step} gate=wait"),
                Gate::Approved => format!("{head} phase=shift step={step} gate=ok"),
            },
            Phase::PostTraffic => format!("{head} phase=post"),
            Phase::Queued => format!("{head} phase=queued"),
            Phase::Done => format!("{head} phase=done"),
            Phase::RolledBack { reason } => format!("{head} phase=rolledback reason={reason}"),
        };
        tag_safe(&out, 256)
    }

    pub fn parse(value: &str) -> Option<Marker> {
        let (head, reason) = match value.split_once(" reason=") {
            Some((h, r)) => (h, Some(r)),
            None => (value, None),
        };
        let fields: BTreeMap<&str, &str> = head.split(' ').filter_map(|kv| kv.split_once('=')).collect();
        let phase = match *fields.get("phase")? {
            "pre" => Phase::PreTraffic,
            "shift" => Phase::Shifting { step: fields.get("step")?.parse().ok()? },
            "post" => Phase::PostTraffic,
            "queued" => Phase::Queued,
            "done" => Phase::Done,
            "rolledback" => Phase::RolledBack { reason: reason.unwrap_or_default().to_string() },
            _ => return None,
        };
        Some(Marker {
            id: fields.get("id")?.to_string(),
            from: fields.get("from")?.to_string(),
            to: fields.get("to")?.to_string(),
            phase,
            since_ms: super::limits::clamp_epoch_ms(fields.get("at")?.parse().ok()?),
            gate: match fields.get("gate") {
                Some(&"wait") => Gate::Waiting,
                Some(&"ok") => Gate::Approved,
                _ => Gate::None,
            },
            release: fields.get("rel").map(|r| r.to_string()),
        })
    }

    /// The rollout as the alias shows it. The marker records phases, and is written after the
    /// alias moved; a step within them is the alias's weight (one write per step). A weight the
    /// marker does not name is step `k`, begun at `seen_ms` (when this process first saw it: AWS
    /// keeps no time for it, so a restart counts the pause again, never less); the new version
    /// at 100 % is the post-traffic phase. Any other state is the marker as written.
    pub fn effective(&self, steps: &[Step], version: &str, routing: &Routing, seen_ms: i64) -> Marker {
        if !matches!(self.phase, Phase::PreTraffic | Phase::Shifting { .. }) {
            return self.clone();
        }
        let derived = |phase, gate| Marker { phase, since_ms: seen_ms, gate, ..self.clone() };
        if version == self.to && routing.is_empty() {
            return derived(Phase::PostTraffic, Gate::None);
        }
        let Some(k) = self.step_of(steps, version, routing) else { return self.clone() };
        if self.phase == (Phase::Shifting { step: k }) {
            return self.clone();
        }
        derived(Phase::Shifting { step: k }, if steps[k].approval.is_some() { Gate::Waiting } else { Gate::None })
    }

    /// The step whose weight the alias has (the old version, and only the new one weighted).
    pub fn step_of(&self, steps: &[Step], version: &str, routing: &Routing) -> Option<usize> {
        let w = routing.get(&self.to).filter(|_| version == self.from && routing.len() == 1)?;
        steps.iter().position(|s| (step_weight(s.percent) - w).abs() < 1e-6)
    }

    /// True while traffic may be moving (a hook, a step, 100 % before its post hook).
    pub fn active(&self) -> bool {
        matches!(self.phase, Phase::PreTraffic | Phase::Shifting { .. } | Phase::PostTraffic)
    }
}

/// Where a rollout is, as the plan prints it and status reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutView {
    pub alias: String,
    pub from: String,
    pub to: String,
    pub strategy: String,
    /// `Starting`, `PreTraffic`, `Shifting`, `PostTraffic`, `RolledBack`.
    pub phase: String,
    /// A manual step waiting for `promote` (and, when it times out, when and what then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for_approval: Option<String>,
    /// 1-based step and the number of steps before 100 %.
    pub step: usize,
    pub steps: usize,
    /// The steps' pauses in all (manual steps not counted), milliseconds.
    pub pause_ms: u64,
    /// Steps that wait for a person's approval.
    pub manual_steps: usize,
    /// The deployment has a canary judge (`analysis`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub analysed: bool,
    /// Percent of traffic on `to` now.
    pub weight: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step_at: Option<String>,
    /// Each alarm and its state (`MISSING` when it does not exist).
    pub alarms: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The canary judge's verdict and its numbers (a step of a deployment with `analysis`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<super::JudgeView>,
    /// The release (release waves) the alias belongs to, as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<super::ReleaseView>,
}

/// A CloudWatch alarm's state as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        })
    }
}

/// How a hook run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookResult {
    Succeeded,
    /// FunctionError, a `Failed` status in the response, a timeout or an alarm meanwhile.
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_survives_its_tag_encoding_in_every_phase() {
        for phase in [
            Phase::PreTraffic,
            Phase::Shifting { step: 3 },
            Phase::PostTraffic,
            Phase::Queued,
            Phase::Done,
            Phase::RolledBack { reason: "alarm payments-errors in ALARM".into() },
        ] {
            let m = Marker {
                id: "r1".into(),
                from: "6".into(),
                to: "7".into(),
                phase,
                since_ms: 1_700_000_000_123,
                gate: Gate::None,
                release: None,
            };
            assert_eq!(Marker::parse(&m.encode()), Some(m));
        }
        for gate in [Gate::Waiting, Gate::Approved] {
            let m = Marker {
                id: "r1".into(),
                from: "6".into(),
                to: "7".into(),
                phase: Phase::Shifting { step: 0 },
                since_ms: 5,
                gate,
                release: Some("a1b2".into()),
            };
            assert_eq!(Marker::parse(&m.encode()), Some(m));
        }
    }

    #[test]
    fn a_marker_reason_keeps_to_the_characters_aws_allows_in_a_tag_value() {
        let m = Marker {
            id: "r".into(),
            from: "1".into(),
            to: "2".into(),
            phase: Phase::RolledBack { reason: "hook said {\"status\": \"Failed\"}!".repeat(20) },
            since_ms: 0,
            gate: Gate::None,
            release: None,
        };
        let v = m.encode();
        assert!(v.len() <= 256);
        assert!(v.chars().all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c)), "{v}");
    }

    #[test]
    fn linear_strategies_step_by_ten_percent_and_canaries_take_one_step() {
        let l = Strategy::Linear10PercentEvery3Minutes.steps();
        assert_eq!(l.len(), 9);
        assert_eq!((l[0].percent, l[8].percent, l[0].pause_ms), (10.0, 90.0, 180_000));
        assert_eq!(
            Strategy::Canary10Percent15Minutes.steps(),
            vec![Step { percent: 10.0, pause_ms: 900_000, approval: None }]
        );
        assert!(Strategy::AllAtOnce.steps().is_empty());
    }
}
