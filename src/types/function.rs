//! Which function a manifest manages (resolved once at load) and what is read of it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// A function in a region, reached with the controller's credentials or through a role: the
/// unit of reconcile (one at a time per key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FunctionKey {
    /// The role assumed to reach the function (`spec.roleArn`); `None`: the controller's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub region: String,
    pub name: String,
}

/// Where a function is reached: the role assumed (`None`: the controller's own credentials) and
/// the region. One rate limiter and one set of region snapshots per scope.
pub type Scope = (Option<String>, String);

impl FunctionKey {
    /// The key's scope.
    pub fn scope(&self) -> Scope {
        (self.role.clone(), self.region.clone())
    }

    /// The shard (of `shards`) this key's account-region belongs to (`--shards`).
    pub fn shard(&self, shards: usize) -> usize {
        shard_of(self.account(), &self.region, shards)
    }

    /// A key reached with the controller's own credentials.
    pub fn own(region: &str, name: &str) -> FunctionKey {
        FunctionKey { role: None, region: region.to_string(), name: name.to_string() }
    }

    /// The account of the key's role (`None`: the controller's own account).
    pub fn account(&self) -> Option<&str> {
        self.role.as_deref().and_then(|r| r.split(':').nth(4))
    }
}

/// The shard of an account-region (`account`: a role's account; `None`: the controller's own
/// credentials): FNV-1a over `account/region`, stable across processes and versions, so every
/// replica agrees.
pub fn shard_of(account: Option<&str>, region: &str, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    let mut h: u64 = 0xcbf29ce484222325;
    for b in account.unwrap_or("own").bytes().chain(std::iter::once(b'/')).chain(region.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    (h % shards as u64) as usize
}

impl fmt::Display for FunctionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.account() {
            Some(a) => write!(f, "{a}/{}/{}", self.region, self.name),
            None => write!(f, "{}/{}", self.region, self.name),
        }
    }
}

/// A manifest's function, resolved once at load: what Lambda is called with (the name or the
/// unqualified ARN as written), the bare name, and the region and account an ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    pub raw: String,
    pub name: String,
    pub region: Option<String>,
    pub account: Option<String>,
}

impl FunctionRef {
    /// Accepts a function name or an unqualified function ARN.
    pub fn parse(s: &str) -> Result<FunctionRef, String> {
        let name_ok = |n: &str| {
            !n.is_empty() && n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if let Some(rest) = s.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.split(':').collect();
            let ok = parts.len() == 6
                && parts[0].starts_with("aws")
                && parts[1] == "lambda"
                && is_region(parts[2])
                && is_account(parts[3])
                && parts[4] == "function"
                && name_ok(parts[5]);
            if !ok {
                return Err(format!(
                    "`{s}` is not an unqualified Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME)"
                ));
            }
            return Ok(FunctionRef {
                raw: s.to_string(),
                name: parts[5].to_string(),
                region: Some(parts[2].to_string()),
                account: Some(parts[3].to_string()),
            });
        }
        if name_ok(s) {
            Ok(FunctionRef::verbatim(s))
        } else {
            Err(format!("`{s}` is not a valid function name (1-64 letters, digits, `-`, `_`) or function ARN"))
        }
    }

    /// `s` taken as a plain name (what an invalid reference falls back to; validation reports it).
    pub fn verbatim(s: &str) -> FunctionRef {
        FunctionRef { raw: s.to_string(), name: s.to_string(), region: None, account: None }
    }

    /// The key: `region` (the manifest's), else the ARN's, else `default`; reached through `role`.
    pub fn key(&self, region: Option<&str>, default: Option<&str>, role: Option<&str>) -> Option<FunctionKey> {
        let region = region.or(self.region.as_deref()).or(default)?;
        Some(FunctionKey { role: role.map(str::to_string), region: region.to_string(), name: self.name.clone() })
    }
}

/// An AWS region name (`ap-northeast-1`).
pub fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

/// The partition an ARN names (`arn:aws-cn:lambda:…` → `aws-cn`); `aws` when it names none.
pub fn partition_of(arn: &str) -> &str {
    match arn.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", partition, ..] if partition.starts_with("aws") => partition,
        _ => "aws",
    }
}

/// A 12-digit AWS account id.
pub fn is_account(a: &str) -> bool {
    a.len() == 12 && a.chars().all(|c| c.is_ascii_digit())
}

/// The manifest generation last applied by lambda-reconciler, as the function's tags tell it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AppliedGeneration {
    /// The generation tag's value.
    Recorded(String),
    /// The tags were read and carry no generation (never applied by lambda-reconciler).
    #[default]
    Untagged,
    /// The tags could not be read (GetFunction's TagsError, or ListTags refused): drift cannot be
    /// told from a manifest change, so the function is an error, never "untagged".
    Unreadable(String),
    /// GetFunction answered without Tags or TagsError: ask ListTags (the observe step does).
    NotReturned,
}

impl AppliedGeneration {
    /// True when the recorded generation is `generation`.
    pub fn is(&self, generation: &str) -> bool {
        self.recorded() == Some(generation)
    }
    /// The generation recorded (the tag's value up to `@`, which starts the revision).
    pub fn recorded(&self) -> Option<&str> {
        match self {
            AppliedGeneration::Recorded(g) => Some(g.split_once('@').map_or(g.as_str(), |(h, _)| h)),
            _ => None,
        }
    }
    /// The git revision that applied the recorded generation (the tag's value after `@`).
    pub fn revision(&self) -> Option<&str> {
        match self {
            AppliedGeneration::Recorded(g) => g.split_once('@').map(|(_, r)| r).filter(|r| !r.is_empty()),
            _ => None,
        }
    }
}

/// The live function fields the product reads from GetFunction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FunctionState {
    pub arn: String,
    pub environment: BTreeMap<String, String>,
    pub reserved_concurrency: Option<i64>,
    pub last_update_in_progress: bool,
    /// The manifest generation last applied by lambda-reconciler (from the function's tag).
    pub applied_generation: AppliedGeneration,
    /// Why the environment could not be read (Environment.Error, or a KMS state reason): the
    /// variables are then unknown, not empty.
    pub environment_error: Option<String>,
    /// Rollout markers by alias (from the function's tags; empty when the tags were not read).
    pub markers: BTreeMap<String, super::Marker>,
    /// `$LATEST`'s revision: AWS changes it on every code or configuration update.
    pub revision_id: String,
    /// `$LATEST`'s code hash (guards PublishVersion against code changed since it was read).
    pub code_sha256: String,
    /// `$LATEST`'s execution role (a version published now carries it).
    pub role: String,
    /// The newest version lambda-reconciler published (from the function's tag).
    pub published: Option<Published>,
    /// `$LATEST`'s settings (every field read, AWS's defaults for what is unset).
    pub settings: super::Settings,
    /// LastUpdateStatus Failed: the reason AWS gives (the last configuration update did not apply).
    pub last_update_failed: Option<String>,
    /// The variables that held a secret when lambda-reconciler last wrote the environment
    /// (from the function's tag): their live values are never printed.
    pub sensitive_env: super::SensitiveEnv,
    /// The code lambda-reconciler last deployed (from the function's tag [`super::CODE_TAG`]).
    pub code: Option<super::CodeRecord>,
    /// The manifest that created the function (tag [`super::CREATED_BY_TAG`]); `None` for a
    /// function the controller adopted.
    pub created_by: Option<String>,
    /// State Pending: just created, not yet ready ("During this time, you can't invoke or
    /// modify the function").
    pub pending: bool,
    /// State Failed: the creation failed, with AWS's reason ("you must delete the function, and
    /// then create it again").
    pub creation_failed: Option<String>,
    /// The user tags (keys outside `aws:` and `lambda-reconciler.io/`); `None` when the tags
    /// could not be read.
    pub user_tags: Option<BTreeMap<String, String>>,
    /// `$LATEST`'s package type, image URI and architectures.
    pub package: super::Package,
}

/// What a published version holds that the controller compares: its environment, its settings
/// and its execution role. A version never changes once published, so it is read once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VersionConfig {
    pub environment: std::collections::BTreeMap<String, String>,
    pub settings: super::Settings,
    /// The execution role's ARN.
    pub role: String,
    /// The version's code hash.
    pub code_sha256: String,
}

/// The version lambda-reconciler last published and the `$LATEST` revision it was cut from,
/// kept in the tag [`PUBLISHED_TAG`] as `VERSION@REVISION` (state in AWS, not in memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub version: String,
    pub revision: String,
}

impl Published {
    pub fn encode(&self) -> String {
        format!("{}@{}", self.version, self.revision)
    }

    /// `None` for a value that is not `DIGITS@REVISION` (then the next publish rewrites it).
    pub fn parse(s: &str) -> Option<Published> {
        let (version, revision) = s.split_once('@')?;
        let number = !version.is_empty() && version.chars().all(|c| c.is_ascii_digit());
        (number && !revision.is_empty())
            .then(|| Published { version: version.to_string(), revision: revision.to_string() })
    }
}

/// The tag recording the newest version lambda-reconciler published (see [`Published`]).
pub const PUBLISHED_TAG: &str = "lambda-reconciler.io/published";

/// `functionVersion: published`: the alias follows the newest version the controller published.
pub const FOLLOW_PUBLISHED: &str = "published";

/// The tag that records the manifest generation last applied, so a restart can still tell an
/// out-of-band change (drift) from a manifest change.
pub const GENERATION_TAG: &str = "lambda-reconciler.io/generation";
