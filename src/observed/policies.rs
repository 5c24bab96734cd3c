//! Which resource policies a reconcile reads: the named qualifiers, the others only when the manifest changed since its apply.

// Where owned statements can be is recorded in AWS by the generation tag: it is written only
// after a pass that read every qualifier where an owned statement may be (the unqualified
// function, each listed alias, each named qualifier) and found nothing to add or remove
// (`reconcile::converge` writes it when the tag was not the manifest's, which is exactly when
// `dropped` read them all). So while the tag names the manifest's generation, the owned
// statements are exactly those the manifest names, and their qualifiers are all that is read.
// When it does not (the manifest changed, e.g. dropped a statement, or the function was never
// applied), the other qualifiers are read too, so a dropped statement is found and removed,
// also after a restart.

use std::collections::{BTreeMap, BTreeSet};

use crate::aws::{AwsError, RegionClients};
use crate::desired::Desired;
use crate::types::{FunctionState, Permission, PERMISSION_SID_PREFIX};

/// Owned statements by qualifier ("" = the unqualified function), then statement id.
pub type Policies = BTreeMap<String, BTreeMap<String, Permission>>;

/// The qualifiers the manifest's statements name: always read while `permissions` is managed.
pub fn named(d: &Desired) -> Vec<String> {
    let Some(p) = &d.permissions else { return vec![] };
    p.keys().map(|(q, _)| q.clone()).collect::<BTreeSet<_>>().into_iter().collect()
}

/// The other qualifiers where an owned statement the manifest dropped can be (the unqualified
/// function and each listed alias), read only when the function's generation tag is not the
/// manifest's: none when it is, or when `permissions` is not managed.
pub fn dropped(d: &Desired, f: &FunctionState) -> Vec<String> {
    if d.permissions.is_none() || f.applied_generation.is(&d.generation) {
        return vec![];
    }
    let named: BTreeSet<String> = named(d).into_iter().collect();
    let all: BTreeSet<String> = std::iter::once(String::new()).chain(d.aliases.keys().cloned()).collect();
    all.difference(&named).cloned().collect()
}

/// The owned statements of each of `qualifiers`' resource policies.
pub async fn read(c: &RegionClients, f: &str, qualifiers: &[String]) -> Result<Policies, AwsError> {
    let mut out = BTreeMap::new();
    for q in qualifiers {
        let all = c.lambda.get_policy(f, Some(q.as_str()).filter(|q| !q.is_empty())).await?;
        let owned = all.into_iter().filter(|(sid, _)| sid.starts_with(PERMISSION_SID_PREFIX)).collect();
        out.insert(q.clone(), owned);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::types::AppliedGeneration;

    fn desired(spec: &str) -> Desired {
        let text = format!(
            "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: f\nspec:\n{spec}"
        );
        let m = crate::manifest::load_file(Path::new("t.yaml"), &text).unwrap_or_else(|e| panic!("{e:?}")).remove(0);
        crate::desired::build(&m, Some("ap-northeast-1"), &BTreeMap::new()).unwrap()
    }

    fn function() -> FunctionState {
        FunctionState { applied_generation: AppliedGeneration::Untagged, ..FunctionState::default() }
    }

    fn manifest() -> Desired {
        desired("  aliases:\n    prod:\n      functionVersion: \"1\"\n    live:\n      functionVersion: \"1\"\n  permissions:\n    api:\n      qualifier: prod\n      principal: apigateway.amazonaws.com\n")
    }

    #[test]
    fn only_the_named_qualifiers_are_read_while_the_generation_tag_is_the_manifests() {
        let d = manifest();
        assert_eq!(named(&d), vec!["prod".to_string()]);
        let mut f = function();
        f.applied_generation = AppliedGeneration::Recorded(format!("{}@3f2a9c1", d.generation));
        assert!(dropped(&d, &f).is_empty());
    }

    #[test]
    fn the_unqualified_function_and_every_listed_alias_are_read_when_the_manifest_changed_since_its_apply() {
        let d = manifest();
        let mut f = function();
        for g in [
            AppliedGeneration::Recorded("an-older-generation".into()),
            AppliedGeneration::Untagged,
            AppliedGeneration::Unreadable("ListTags refused".into()),
        ] {
            f.applied_generation = g;
            assert_eq!(dropped(&d, &f), vec![String::new(), "live".to_string()]);
        }
    }

    #[test]
    fn an_unmanaged_permissions_kind_costs_no_read() {
        let d = desired("  aliases:\n    prod:\n      functionVersion: \"1\"\n");
        assert!(named(&d).is_empty());
        assert!(dropped(&d, &function()).is_empty());
    }
}
