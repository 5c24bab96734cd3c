//! Secrets Manager reads for environment values: BatchGetSecretValue (20 secrets a call) for
//! the current version, GetSecretValue for a pinned stage or version; one secret's error is
//! that secret's alone. The daemon reads every secret of a region's manifests together, once
//! per resync (a snapshot, as SSM's), and a function's new references on their own.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::call::{AwsError, Caller, ErrorClass};
use super::values::Values;
use crate::types::{Parameter, SecretRef};

/// BatchGetSecretValue: "SecretIdList ... Maximum number of 20 items."
pub const BATCH: usize = 20;

#[derive(Clone)]
pub struct Secrets {
    client: aws_sdk_secretsmanager::Client,
    caller: Caller,
    /// The region's snapshot of the secrets the manifests use.
    values: Values<SecretRef>,
}

/// A version id is a UUID (32-64 characters); anything else names a staging label.
fn is_version_id(v: &str) -> bool {
    (32..=64).contains(&v.len()) && v.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

impl Secrets {
    pub fn new(config: &aws_config::SdkConfig, caller: Caller, stale_after: Duration) -> Self {
        let values = Values::new(stale_after, SecretRef::key);
        Secrets { client: aws_sdk_secretsmanager::Client::new(config), caller, values }
    }

    /// Every secret the region's manifests use.
    pub fn set_wanted(&self, refs: Vec<SecretRef>) {
        self.values.set_wanted(refs);
    }

    /// The entries of `refs` for `consumer` (a function), from the region's snapshot: a refresh
    /// reads every wanted secret, 20 a call; references new since are read on their own.
    pub async fn resolve_shared(
        &self,
        consumer: &str,
        refs: &[SecretRef],
    ) -> Result<BTreeMap<String, Parameter>, AwsError> {
        let out: HashSet<String> = refs.iter().flat_map(|r| [r.key(), r.error_key()]).collect();
        // Every reference is read (a secret that cannot be read is an error entry of its own).
        let all = |every: Vec<SecretRef>| async move {
            let read = every.iter().map(SecretRef::key).collect();
            Ok((self.resolve(&every).await?, read))
        };
        let some = |missing: Vec<SecretRef>| async move { self.resolve(&missing).await };
        self.values.resolve((&self.caller, consumer), refs, &out, all, some).await
    }

    /// Resolves `refs` into entries keyed by [`SecretRef::key`] (the value, sensitive) or, for a
    /// secret that cannot be read, by [`SecretRef::error_key`] (the reason). Fails only when
    /// AWS itself fails (throttling, 5xx, network), never for one secret.
    pub async fn resolve(&self, refs: &[SecretRef]) -> Result<BTreeMap<String, Parameter>, AwsError> {
        let mut out = BTreeMap::new();
        let current: Vec<&SecretRef> = refs.iter().filter(|r| r.version.is_none()).collect();
        for chunk in current.chunks(BATCH) {
            self.batch(chunk, &mut out).await?;
        }
        for r in refs.iter().filter(|r| r.version.is_some()) {
            self.one(r, &mut out).await?;
        }
        Ok(out)
    }

    async fn batch(&self, chunk: &[&SecretRef], out: &mut BTreeMap<String, Parameter>) -> Result<(), AwsError> {
        let ids: Vec<String> = chunk.iter().map(|r| r.id.clone()).collect();
        let res = self
            .caller
            .call("secretsmanager:BatchGetSecretValue", || {
                self.client.batch_get_secret_value().set_secret_id_list(Some(ids.clone())).send()
            })
            .await?;
        for r in chunk {
            let hit = res.secret_values().iter().find(|v| names(&r.id, v.name(), v.arn()));
            let error = res.errors().iter().find(|e| e.secret_id() == Some(r.id.as_str()));
            match (hit, error) {
                (Some(v), _) => put(out, r, v.secret_string().map(str::to_string)),
                (None, Some(e)) => {
                    let reason = format!("{}: {}", e.error_code().unwrap_or("Error"), e.message().unwrap_or_default());
                    out.insert(r.error_key(), Parameter { value: reason, secure: false });
                }
                (None, None) => {
                    out.insert(
                        r.error_key(),
                        Parameter { value: "not returned by BatchGetSecretValue".into(), secure: false },
                    );
                }
            }
        }
        Ok(())
    }

    async fn one(&self, r: &SecretRef, out: &mut BTreeMap<String, Parameter>) -> Result<(), AwsError> {
        let v = r.version.clone().unwrap_or_default();
        let (id, stage) = if is_version_id(&v) { (Some(v), None) } else { (None, Some(v)) };
        let res = self
            .caller
            .call("secretsmanager:GetSecretValue", || {
                self.client
                    .get_secret_value()
                    .secret_id(&r.id)
                    .set_version_id(id.clone())
                    .set_version_stage(stage.clone())
                    .send()
            })
            .await;
        match res {
            Ok(s) => put(out, r, s.secret_string().map(str::to_string)),
            Err(e) if matches!(e.class, ErrorClass::NotFound | ErrorClass::Terminal) => {
                out.insert(r.error_key(), Parameter { value: format!("{}: {}", e.code, e.message), secure: false });
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// Whether `id` (a SecretId as the manifest gives it) names the secret `name` with `arn`, as
/// Secrets Manager matches one: "you can specify either the ARN or the name of the secret"; a
/// partial ARN is "the ARN without the hyphen and six random characters Secrets Manager adds"
/// (Secrets Manager User Guide, "Finding secrets from a partial ARN"). Nothing looser: a prefix
/// of another secret's name must not take that secret's value.
fn names(id: &str, name: Option<&str>, arn: Option<&str>) -> bool {
    let partial = |arn: &str| {
        id.starts_with("arn:")
            && arn.len() == id.len() + 7
            && arn.starts_with(id)
            && arn[id.len()..].starts_with('-')
            && arn[id.len() + 1..].chars().all(|c| c.is_ascii_alphanumeric())
    };
    name == Some(id) || arn.is_some_and(|a| a == id || partial(a))
}

fn put(out: &mut BTreeMap<String, Parameter>, r: &SecretRef, value: Option<String>) {
    match value {
        Some(value) => drop(out.insert(r.key(), Parameter { value, secure: true })),
        None => drop(out.insert(
            r.error_key(),
            Parameter { value: "a binary secret (SecretBinary) cannot be an environment value".into(), secure: false },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::names;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-prod-AbC123";

    #[test]
    fn a_secret_id_matches_its_name_its_arn_or_its_arn_without_the_suffix_only() {
        assert!(names("db-prod", Some("db-prod"), Some(ARN)));
        assert!(names(ARN, Some("db-prod"), Some(ARN)));
        assert!(names("arn:aws:secretsmanager:us-east-1:123456789012:secret:db-prod", Some("db-prod"), Some(ARN)));
        for other in ["arn:aws:secretsmanager:us-east-1:123456789012:secret:db", "db", "db-prod-AbC", "prod"] {
            assert!(!names(other, Some("db-prod"), Some(ARN)), "{other} must not match db-prod");
        }
    }
}
