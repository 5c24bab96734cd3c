//! Function code from git: the S3 object a manifest names and the tag recording what was deployed.

use serde::Serialize;

/// The tag recording the code lambda-reconciler deployed: `SOURCE-DIGEST@CODESHA256`.
pub const CODE_TAG: &str = "lambda-reconciler.io/code";

/// `spec.code`: a zip in S3 (at a version when given) and, optionally, its expected CodeSha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeSource {
    pub bucket: String,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_version: Option<String>,
    /// Base64 SHA-256 of the zip, as Lambda reports CodeSha256.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl CodeSource {
    /// `s3://bucket/key` with `@version` when one is named (what a plan shows).
    pub fn location(&self) -> String {
        let at = self.object_version.as_deref().map(|v| format!("@{v}")).unwrap_or_default();
        format!("s3://{}/{}{at}", self.bucket, self.key)
    }

    /// A short digest of the source (keys run to 1024 characters, tag values to 256): the first
    /// 16 bytes of SHA-256 over `s3://bucket/key#version`, in hex.
    pub fn digest(&self) -> String {
        let text = format!("s3://{}/{}#{}", self.bucket, self.key, self.object_version.as_deref().unwrap_or(""));
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
        let s = CodeSource { bucket: "b".into(), key: "k".into(), object_version: Some("v1".into()), sha256: None };
        let other = CodeSource { object_version: Some("v2".into()), ..s.clone() };
        assert_ne!(s.digest(), other.digest());
        let r = CodeRecord { source: s.digest(), sha256: "abc=".into() };
        assert_eq!(CodeRecord::parse(&r.encode()), Some(r));
    }
}
