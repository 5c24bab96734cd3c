//! When this process first saw each rollout alias at its weights: a step's start, which AWS keeps nowhere.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::types::{AliasState, Marker};

/// Entries kept at most (one per rollout alias this process watches); past it the record is
/// forgotten whole, so a step's pause counts again from the next read (never shorter).
pub const MAX_ENTRIES: usize = 100_000;

type Key = (String, String);

/// Per alias: the fingerprint, when it was first seen, and whether this process wrote it.
type Entry = (String, i64, bool);

fn table() -> &'static Mutex<HashMap<Key, Entry>> {
    static SEEN: OnceLock<Mutex<HashMap<Key, Entry>>> = OnceLock::new();
    SEEN.get_or_init(Mutex::default)
}

/// The rollout, version and weights an alias shows.
fn fingerprint(m: &Marker, a: &AliasState) -> String {
    format!("{} {} {:?}", m.id, a.function_version, a.routing)
}

/// When this process first saw alias `alias` of function `arn` as it is now (`now` if never),
/// and whether it was this process's own write (else it only read it: a restart, a failover,
/// another process's write; the marker then records the step, so the next restart keeps it).
pub fn since(arn: &str, alias: &str, m: &Marker, a: &AliasState, now: i64) -> (i64, bool) {
    let fp = fingerprint(m, a);
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    match t.get(&(arn.to_string(), alias.to_string())) {
        Some((seen, at, wrote)) if *seen == fp => (*at, *wrote),
        _ => {
            insert(&mut t, arn, alias, (fp, now, false));
            (now, false)
        }
    }
}

/// The alias as this process just wrote it, at `at`.
pub fn wrote(arn: &str, alias: &str, m: &Marker, a: &AliasState, at: i64) {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    insert(&mut t, arn, alias, (fingerprint(m, a), at, true));
}

fn insert(t: &mut HashMap<Key, Entry>, arn: &str, alias: &str, e: Entry) {
    if t.len() >= MAX_ENTRIES {
        t.clear();
    }
    t.insert((arn.to_string(), alias.to_string()), e);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Gate, Phase, Routing};

    fn state(w: f64) -> AliasState {
        AliasState {
            function_version: "6".into(),
            description: String::new(),
            routing: Routing::from([("7".into(), w)]),
            revision: String::new(),
        }
    }

    #[test]
    fn a_weight_keeps_the_time_it_was_first_seen_until_it_changes() {
        let m = Marker {
            id: "r1".into(),
            from: "6".into(),
            to: "7".into(),
            phase: Phase::Shifting { step: 0 },
            since_ms: 0,
            gate: Gate::None,
            release: None,
        };
        let arn = "arn:seen-test";
        assert_eq!(since(arn, "live", &m, &state(0.1), 100), (100, false));
        assert_eq!(since(arn, "live", &m, &state(0.1), 900), (100, false), "the same weight: first seen at 100");
        wrote(arn, "live", &m, &state(0.2), 1000);
        assert_eq!(
            since(arn, "live", &m, &state(0.2), 5000),
            (1000, true),
            "a weight this process wrote: its write time"
        );
        assert_eq!(since(arn, "live", &m, &state(0.3), 6000), (6000, false), "a new weight: now");
    }
}
