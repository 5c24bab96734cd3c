//! A deployment's `release` (release waves): its bounds, the rules across its members, and the
//! members of each release as the snapshot defines them.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::snapshot::{error_at, Manifest, ManifestError};
use crate::types::{OnFailure, Release, ReleaseMember, MAX_BAKE_MS, MAX_RELEASE_MEMBERS, MAX_WAVE};

/// `deployment.release`: this alias rolls out in wave `wave` of release `name`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseSpec {
    /// The release (1-64 letters, digits, `-`, `_`, `.`), shared by its members' manifests.
    #[schemars(length(min = 1, max = 64))]
    pub name: String,
    /// 1-20: wave N+1 starts once every rollout of wave N finished and its bake passed.
    #[schemars(range(min = 1, max = 20))]
    pub wave: u32,
    /// How long the wave holds at 100 % with its alarms watched before the next wave starts
    /// (`10m`, at most `24h`; a wave bakes for its members' longest). Default `0s`.
    pub bake: Option<String>,
    /// `halt` (default): a failed wave rolls back and later waves never start. `rollbackAll`:
    /// the waves already done roll back too. Every member of a release says the same.
    pub on_failure: Option<OnFailure>,
}

fn bake_ms(spec: &ReleaseSpec) -> Result<u64, String> {
    let Some(text) = &spec.bake else { return Ok(0) };
    let excerpt: String = text.chars().take(32).collect();
    let d = humantime::parse_duration(text).map_err(|_| format!("`{excerpt}` is not a duration like `10m`"))?;
    if d > Duration::from_millis(MAX_BAKE_MS) {
        return Err(format!("`{excerpt}`: at most 24h"));
    }
    Ok(d.as_millis() as u64)
}

/// Checks one member's `release`; `err(field, message)` takes paths relative to it.
pub fn check(r: &ReleaseSpec, err: &mut dyn FnMut(&str, String)) {
    let name_ok = r.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if r.name.is_empty() || r.name.len() > 64 || !name_ok {
        let excerpt: String = r.name.chars().take(32).collect();
        err("name", format!("`{excerpt}`: 1-64 letters, digits, `-`, `_`, `.`"));
    }
    if !(1..=MAX_WAVE).contains(&r.wave) {
        err("wave", format!("{}: waves are numbered 1-{MAX_WAVE}", r.wave));
    }
    if let Err(e) = bake_ms(r) {
        err("bake", e);
    }
}

/// Each release's member aliases of `manifests`: (manifest, alias, spec), in manifest order.
fn specs<'a>(manifests: &[&'a Manifest]) -> BTreeMap<&'a str, Vec<(&'a Manifest, &'a str, &'a ReleaseSpec)>> {
    let mut out: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for &m in manifests {
        for (alias, a) in &m.doc.spec.aliases {
            if let Some(r) = a.deployment.as_ref().and_then(|d| d.release.as_ref()) {
                out.entry(r.name.as_str()).or_default().push((m, alias.as_str(), r));
            }
        }
    }
    out
}

/// The rules across a release's members: one `onFailure`, at most 50 members. A member that
/// breaks them is an error at its `release` (its file is rejected, as for the other cross-file
/// rules); the first members keep the release.
pub fn across(manifests: &[&Manifest]) -> Vec<ManifestError> {
    let mut errors = vec![];
    for (name, members) in specs(manifests) {
        let (first, first_alias, first_spec) = members[0];
        for (i, (m, alias, r)) in members.iter().enumerate() {
            let field = format!("spec.aliases.{alias}.deployment.release");
            let pos = m.pos_of("spec");
            if i >= MAX_RELEASE_MEMBERS {
                errors.push(error_at(
                    &m.file,
                    pos,
                    &field,
                    format!("release `{name}` has more than {MAX_RELEASE_MEMBERS} members"),
                ));
            } else if r.on_failure.unwrap_or_default() != first_spec.on_failure.unwrap_or_default() {
                let first_at = format!("{}:{} alias {first_alias}", first.file.display(), first.pos_of("spec").line);
                errors.push(error_at(
                    &m.file,
                    pos,
                    &format!("{field}.onFailure"),
                    format!("release `{name}` already has another onFailure ({first_at}); every member says the same"),
                ));
            }
        }
    }
    errors
}

/// FNV-1a 64 of `text`, as 12 hex digits (a release id fits a tag value).
fn short_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:012x}", h & 0xffff_ffff_ffff)
}

/// The release alias `alias` of `me` belongs to, with every member of it among `manifests`
/// (their states not read yet: `Unknown`). `None`: the alias is in no release.
pub fn release_of(
    me: &Manifest,
    alias: &str,
    manifests: &[&Manifest],
    default_region: Option<&str>,
) -> Option<Release> {
    let spec = me.doc.spec.aliases.get(alias)?.deployment.as_ref()?.release.as_ref()?;
    let all = specs(manifests);
    let mut members: Vec<ReleaseMember> = all
        .get(spec.name.as_str())?
        .iter()
        .take(MAX_RELEASE_MEMBERS)
        .filter_map(|(m, a, r)| {
            Some(ReleaseMember {
                manifest: m.name.clone(),
                alias: a.to_string(),
                wave: r.wave,
                bake_ms: bake_ms(r).unwrap_or(0),
                key: m.key(default_region)?,
                function_ref: m.function.raw.clone(),
                generation: m.content_hash(),
            })
        })
        .collect();
    members.sort_by(|a, b| (a.wave, &a.manifest, &a.alias).cmp(&(b.wave, &b.manifest, &b.alias)));
    let me_index = members.iter().position(|m| m.manifest == me.name && m.alias == alias)?;
    let ids: Vec<String> = members.iter().map(|m| format!("{}/{}={}", m.manifest, m.alias, m.generation)).collect();
    Some(Release {
        name: spec.name.clone(),
        id: short_hash(&ids.join(",")),
        on_failure: spec.on_failure.unwrap_or_default(),
        me: me_index,
        peers: members.iter().map(|_| crate::types::PeerState::Unknown { why: "not read".into() }).collect(),
        members,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::load::load_file;

    fn doc(name: &str, region: &str, release: &str) -> String {
        format!(
            "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n  functionName: f\n  region: {region}\n  aliases:\n    live:\n      functionVersion: \"2\"\n      deployment: {{strategy: Canary10Percent5Minutes, release: {release}}}\n"
        )
    }

    #[test]
    fn a_release_name_wave_and_bake_outside_their_bounds_are_each_reported() {
        let errs = load_file(Path::new("m.yaml"), &doc("a", "eu-west-1", "{name: \"bad name!\", wave: 21, bake: 25h}"))
            .unwrap_err();
        let at = |f: &str| errs.iter().find(|e| e.field == f).unwrap_or_else(|| panic!("{f}: {errs:#?}"));
        let base = "spec.aliases.live.deployment.release";
        assert!(at(&format!("{base}.name")).message.contains("1-64 letters"));
        assert!(at(&format!("{base}.wave")).message.contains("1-20"));
        assert!(at(&format!("{base}.bake")).message.contains("at most 24h"));
        assert_eq!(at(&format!("{base}.wave")).line, 11);
        let errs =
            load_file(Path::new("m.yaml"), &doc("a", "eu-west-1", "{name: r, wave: 0, bake: soon}")).unwrap_err();
        assert!(errs.iter().any(|e| e.field.ends_with("release.bake") && e.message.contains("not a duration")));
        assert!(errs.iter().any(|e| e.field.ends_with("release.wave")));
    }

    #[test]
    fn members_of_one_release_that_disagree_on_on_failure_reject_the_later_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), doc("a", "eu-west-1", "{name: r, wave: 1}")).unwrap();
        std::fs::write(dir.path().join("b.yaml"), doc("b", "us-east-1", "{name: r, wave: 2, onFailure: rollbackAll}"))
            .unwrap();
        let snap = super::super::load_dir(dir.path()).unwrap();
        assert_eq!(snap.manifests.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["a"]);
        let e = &snap.errors[0];
        assert!(e.file.ends_with("b.yaml") && e.field.ends_with("release.onFailure"), "{e}");
        assert!(e.message.contains("already has another onFailure"), "{e}");
    }

    #[test]
    fn a_release_orders_its_members_by_wave_and_changes_its_id_when_any_member_changes() {
        let load = |name: &str, region: &str, r: &str| {
            load_file(Path::new("m.yaml"), &doc(name, region, r)).unwrap().remove(0)
        };
        let a = load("a", "eu-west-1", "{name: r, wave: 2}");
        let b = load("b", "us-east-1", "{name: r, wave: 1, bake: 10m}");
        let r = super::release_of(&a, "live", &[&a, &b], None).unwrap();
        assert_eq!(r.members.iter().map(|m| m.manifest.as_str()).collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!((r.me, r.bake_ms(1), r.bake_ms(2)), (1, 600_000, 0));
        let b2 = load("b", "us-east-1", "{name: r, wave: 1, bake: 11m}");
        assert_ne!(super::release_of(&a, "live", &[&a, &b2], None).unwrap().id, r.id);
        assert!(r.id.len() == 12 && r.id.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
