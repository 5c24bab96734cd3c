//! Function code from git: the S3 object or ECR image a manifest names, the live package, and
//! the tag recording what was deployed.

use serde::Serialize;

/// The tag recording the code lambda-reconciler deployed: `SOURCE-DIGEST@CODESHA256`.
pub const CODE_TAG: &str = "lambda-reconciler.io/code";

/// Lambda's default instruction set architecture (`architectures: null`).
pub const DEFAULT_ARCHITECTURE: &str = "x86_64";

/// Where the code is: a zip in S3 (at a version when given) or a container image in ECR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CodeLocation {
    #[serde(rename_all = "camelCase")]
    S3 {
        bucket: String,
        key: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        object_version: Option<String>,
    },
    /// `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO@sha256:HEX` or `…/REPO:TAG`.
    Image { uri: String },
}

/// `spec.code`: the code's location and, for a zip, optionally its expected CodeSha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeSource {
    pub location: CodeLocation,
    /// Base64 SHA-256 of the zip, as Lambda reports CodeSha256.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// A function's deployment package type; it never changes once the function exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum PackageType {
    #[default]
    Zip,
    Image,
}

impl PackageType {
    /// AWS's `PackageType` value (`Zip` when absent, as before images existed).
    pub fn parse(s: Option<&str>) -> PackageType {
        if s == Some("Image") {
            PackageType::Image
        } else {
            PackageType::Zip
        }
    }
}

impl std::fmt::Display for PackageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PackageType::Zip => "Zip",
            PackageType::Image => "Image",
        })
    }
}

/// The live package of `$LATEST`: its type, image (for an image function) and architectures.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Package {
    pub kind: PackageType,
    /// GetFunction's `Code.ImageUri` (image functions only).
    pub image_uri: Option<String>,
    pub architectures: Vec<String>,
}

impl CodeSource {
    /// The package type this code makes a function.
    pub fn package_type(&self) -> PackageType {
        match self.location {
            CodeLocation::S3 { .. } => PackageType::Zip,
            CodeLocation::Image { .. } => PackageType::Image,
        }
    }

    /// `s3://bucket/key` with `@version` when one is named, or the image URI (what a plan shows).
    pub fn location(&self) -> String {
        match &self.location {
            CodeLocation::S3 { bucket, key, object_version } => {
                let at = object_version.as_deref().map(|v| format!("@{v}")).unwrap_or_default();
                format!("s3://{bucket}/{key}{at}")
            }
            CodeLocation::Image { uri } => uri.clone(),
        }
    }

    /// The image digest's hex when the URI names one (`…@sha256:HEX`): Lambda's CodeSha256 for
    /// that image, known before any call.
    pub fn image_digest(&self) -> Option<&str> {
        match &self.location {
            CodeLocation::Image { uri } => uri.rsplit_once("@sha256:").map(|(_, hex)| hex),
            CodeLocation::S3 { .. } => None,
        }
    }

    /// A short digest of the source (keys run to 1024 characters, tag values to 256): the first
    /// 16 bytes of SHA-256 over `s3://bucket/key#version` or over the image URI, in hex.
    pub fn digest(&self) -> String {
        let text = match &self.location {
            CodeLocation::S3 { bucket, key, object_version } => {
                format!("s3://{bucket}/{key}#{}", object_version.as_deref().unwrap_or(""))
            }
            CodeLocation::Image { uri } => uri.clone(),
        };
        let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        d.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What the code tag records: the source digest and the CodeSha256 Lambda reported for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub source: String,
    pub sha256: String,
}

impl CodeRecord {
    /// The tag value (hex, `@` and base64 text: all allowed in tag values, under 256 characters).
    pub fn encode(&self) -> String {
        format!("{}@{}", self.source, self.sha256)
    }

    /// `None` for a value that is not `HEX@SHA` (then the code is taken as never deployed).
    pub fn parse(s: &str) -> Option<CodeRecord> {
        let (source, sha256) = s.split_once('@')?;
        (!source.is_empty() && source.chars().all(|c| c.is_ascii_hexdigit()) && !sha256.is_empty())
            .then(|| CodeRecord { source: source.to_string(), sha256: sha256.to_string() })
    }
}

/// True for base64 text of exactly 32 bytes (43 characters and one `=`), Lambda's CodeSha256 form.
pub fn is_sha256_base64(s: &str) -> bool {
    let b64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
    let chars: Vec<char> = s.chars().collect();
    // The 43rd character carries 2 padding bits, which must be zero.
    chars.len() == 44
        && chars[..43].iter().all(|&c| b64(c))
        && chars[43] == '='
        && "AEIMQUYcgkosw048".contains(chars[42])
}

/// An S3 bucket name: 3-63 lowercase letters, digits, `.` and `-`, starting and ending with a
/// letter or digit.
pub fn is_bucket_name(b: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&b.len())
        && b.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge(b.chars().next())
        && edge(b.chars().last())
}

/// The longest image URI accepted: a 255-character host part is impossible, so 512 covers a
/// 256-character repository name, the registry host and a digest.
pub const MAX_IMAGE_URI_CHARS: usize = 512;

/// How an image URI names its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageRef {
    /// `@sha256:` and 64 hex digits: immutable.
    Digest,
    /// `:TAG`: Lambda resolves it to a digest once, at the update.
    Tag,
}

/// Checks an ECR image URI `ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/REPO(@sha256:HEX|:TAG)`;
/// the reason it is not one otherwise. REPO follows ECR's repository name rule (2-256
/// characters, lowercase path components joined by `.`, `_`, `-`, separated by `/`), TAG
/// Docker's (1-128 of letters, digits, `_`, `.`, `-`, not starting with `.` or `-`).
pub fn parse_image_uri(uri: &str) -> Result<ImageRef, String> {
    if uri.len() > MAX_IMAGE_URI_CHARS {
        return Err(format!("longer than {MAX_IMAGE_URI_CHARS} characters"));
    }
    let (host, path) = uri.split_once('/').ok_or("no repository after the registry host")?;
    let labels: Vec<&str> = host.split('.').collect();
    let registry = match labels.as_slice() {
        [account, "dkr", "ecr", region, "amazonaws", "com"]
        | [account, "dkr", "ecr", region, "amazonaws", "com", "cn"] => {
            super::is_account(account) && super::is_region(region)
        }
        _ => false,
    };
    if !registry {
        return Err("the registry must be ACCOUNT.dkr.ecr.REGION.amazonaws.com (an Amazon ECR repository)".into());
    }
    let (repo, image) = match path.split_once('@') {
        Some((repo, digest)) => {
            let hex = digest.strip_prefix("sha256:").ok_or("a digest must be sha256:HEX")?;
            if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
                return Err("a sha256 digest is 64 lowercase hex digits".into());
            }
            (repo, ImageRef::Digest)
        }
        None => {
            let (repo, tag) = path.rsplit_once(':').ok_or("no image: add @sha256:DIGEST (or :TAG)")?;
            let ok = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
            if !(1..=128).contains(&tag.len()) || !tag.chars().all(ok) || tag.starts_with(['.', '-']) {
                return Err("a tag is 1-128 letters, digits, `_`, `.`, `-`".into());
            }
            (repo, ImageRef::Tag)
        }
    };
    let component = |c: &str| {
        !c.is_empty()
            && c.split(['.', '_', '-'])
                .all(|w| !w.is_empty() && w.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit()))
    };
    if !(2..=256).contains(&repo.len()) || !repo.split('/').all(component) {
        return Err("the repository name is 2-256 lowercase letters, digits, `.`, `_`, `-`, `/`".into());
    }
    Ok(image)
}

/// An image function's code as a manifest names it: the live image's repository at the digest
/// Lambda runs (`REPO@sha256:CODESHA256`), whatever tag it was deployed from; `None` when the
/// hash is not a digest.
pub fn pinned_image_uri(image_uri: &str, code_sha256: &str) -> Option<String> {
    let digest = code_sha256.len() == 64 && code_sha256.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    let (host, path) = image_uri.split_once('/')?;
    let repo = match path.split_once('@') {
        Some((repo, _)) => repo,
        None => path.rsplit_once(':').map_or(path, |(repo, _)| repo),
    };
    let uri = format!("{host}/{repo}@sha256:{code_sha256}");
    (digest && parse_image_uri(&uri) == Ok(ImageRef::Digest)).then_some(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_sha256_is_base64_of_32_bytes() {
        // base64(sha256(b"")), as Lambda would report it.
        assert!(is_sha256_base64("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="));
        assert!(!is_sha256_base64("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV="));
        assert!(!is_sha256_base64("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    }

    #[test]
    fn the_code_tag_round_trips_and_names_the_version() {
        let s3 = |v: &str| CodeLocation::S3 { bucket: "b".into(), key: "k".into(), object_version: Some(v.into()) };
        let s = CodeSource { location: s3("v1"), sha256: None };
        let other = CodeSource { location: s3("v2"), sha256: None };
        assert_ne!(s.digest(), other.digest());
        let r = CodeRecord { source: s.digest(), sha256: "abc=".into() };
        assert_eq!(CodeRecord::parse(&r.encode()), Some(r));
    }
}

#[cfg(test)]
mod image_tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn an_ecr_image_uri_names_a_digest_or_a_tag() {
        let digest = format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app@sha256:{HEX}");
        assert_eq!(parse_image_uri(&digest), Ok(ImageRef::Digest));
        assert_eq!(parse_image_uri("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1.2"), Ok(ImageRef::Tag));
        let source = CodeSource { location: CodeLocation::Image { uri: digest }, sha256: None };
        assert_eq!(source.image_digest(), Some(HEX));
    }

    #[test]
    fn an_exported_image_is_pinned_to_the_digest_lambda_runs() {
        let host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
        let want = Some(format!("{host}/team/app@sha256:{HEX}"));
        assert_eq!(pinned_image_uri(&format!("{host}/team/app:latest"), HEX), want);
        assert_eq!(pinned_image_uri(&format!("{host}/team/app@sha256:{}", "f".repeat(64)), HEX), want);
        assert_eq!(pinned_image_uri(&format!("{host}/team/app:latest"), "not-a-digest"), None);
    }

    #[test]
    fn a_uri_outside_ecr_or_without_an_image_is_refused() {
        for bad in [
            format!("docker.io/library/app@sha256:{HEX}"),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app".into(),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:abc".into(),
            format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/App@sha256:{HEX}"),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:".into(),
            format!("12345.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:{HEX}"),
            "x".repeat(600),
        ] {
            assert!(parse_image_uri(&bad).is_err(), "{bad}");
        }
    }
}
