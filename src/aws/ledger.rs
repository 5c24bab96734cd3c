//! What one reconcile learned of its functions' aliases and rollout markers, from AWS's answers and its own writes (the last word wins), for the daemon's alarm fast path.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;

use crate::types::{AliasState, Marker};

tokio::task_local! {
    static LEDGER: RefCell<Ledger>;
}

/// One function's aliases and markers as last read or written in this scope.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// The function's ARN (as tags are written), when a tag read or write named it.
    pub arn: Option<String>,
    /// The markers known: every one once `markers_read`, else only those written here.
    pub markers: BTreeMap<String, Marker>,
    pub markers_read: bool,
    /// By alias; `None`: deleted here.
    pub aliases: BTreeMap<String, Option<AliasState>>,
}

/// By function name. Bounded by what one reconcile touches: its function's aliases and
/// markers, and the markers of its release's members.
#[derive(Debug, Default)]
struct Ledger(BTreeMap<String, Seen>);

/// The function's name in any of the forms Lambda takes (name, ARN, partial ARN, with or without
/// a qualifier).
pub fn name_of(function: &str) -> &str {
    match function.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => function,
    }
}

/// Runs `f` with an empty ledger: the Lambda calls made in it record what they learn.
pub async fn scope<F: Future>(f: F) -> F::Output {
    LEDGER.scope(RefCell::new(Ledger::default()), f).await
}

/// What this scope learned of `function` (`None` outside a scope or when nothing was).
pub fn seen(function: &str) -> Option<Seen> {
    LEDGER.try_with(|l| l.borrow().0.get(name_of(function)).cloned()).ok().flatten()
}

fn with(function: &str, f: impl FnOnce(&mut Seen)) {
    let _ = LEDGER.try_with(|l| f(l.borrow_mut().0.entry(name_of(function).to_string()).or_default()));
}

/// An alias as an answer showed it (`None`: deleted).
pub(crate) fn alias(function: &str, name: &str, state: Option<AliasState>) {
    with(function, |s| drop(s.aliases.insert(name.to_string(), state)));
}

/// Every marker of the function, as a tag read showed them.
pub(crate) fn markers(arn: &str, markers: &BTreeMap<String, Marker>) {
    with(arn, |s| {
        s.arn = Some(arn.to_string());
        s.markers = markers.clone();
        s.markers_read = true;
    });
}

/// One marker written (`None`: removed).
pub(crate) fn marker(arn: &str, alias: &str, marker: Option<&Marker>) {
    with(arn, |s| {
        s.arn = Some(arn.to_string());
        match marker {
            Some(m) => drop(s.markers.insert(alias.to_string(), m.clone())),
            None => drop(s.markers.remove(alias)),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_is_known_by_its_name_in_every_form_lambda_takes() {
        for f in [
            "pay",
            "arn:aws:lambda:eu-west-1:123456789012:function:pay",
            "arn:aws:lambda:eu-west-1:123456789012:function:pay:live",
            "123456789012:function:pay",
        ] {
            assert_eq!(name_of(f), "pay", "{f}");
        }
    }

    #[tokio::test]
    async fn a_scope_keeps_the_last_word_and_nothing_is_kept_outside_one() {
        let state = |v: &str, r: &str| AliasState {
            function_version: v.into(),
            description: String::new(),
            routing: Default::default(),
            revision: r.into(),
        };
        alias("pay", "live", Some(state("1", "a")));
        assert_eq!(seen("pay"), None);
        let got = scope(async {
            alias("pay", "live", Some(state("1", "a")));
            alias("arn:aws:lambda:eu-west-1:123456789012:function:pay", "live", Some(state("2", "b")));
            seen("pay")
        })
        .await
        .unwrap();
        assert_eq!(got.aliases["live"], Some(state("2", "b")));
        assert!(!got.markers_read);
    }
}
