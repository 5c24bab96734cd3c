//! `spec.code` and `spec.architectures`: the rules Lambda's UpdateFunctionCode holds them to, and
//! the warnings for code that is valid but whose changes would go unnoticed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::{Code, Spec};
use crate::types::{is_bucket_name, is_sha256_base64, parse_image_uri, Field, ImageRef};

/// An instruction set architecture (AWS's `Architecture` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Architecture {
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

/// Errors in `spec.code` and `spec.architectures` (`err(field under spec, message)`).
pub fn check(s: &Spec, err: &mut dyn FnMut(&str, String)) {
    if let Some(code) = &s.code {
        code_rules(code, err);
    }
    // AWS (UpdateFunctionCode, Architectures): "The instruction set architecture that the function
    // supports. Enter a string array with one of the valid values"; the list has 1 item at most.
    if let Field::Value(a) = &s.architectures {
        if a.len() != 1 {
            err("architectures", "must hold exactly one of x86_64, arm64 (Lambda takes one)".into());
        }
    }
    // Architectures is a member of UpdateFunctionCode, not of UpdateFunctionConfiguration.
    if !s.architectures.is_absent() && s.code.is_none() {
        err(
            "architectures",
            "needs `code`: Lambda sets the architecture only with the code (UpdateFunctionCode)".into(),
        );
    }
}

fn code_rules(code: &Code, err: &mut dyn FnMut(&str, String)) {
    match (&code.s3, &code.image_uri) {
        (Some(_), Some(_)) | (None, None) => {
            err("code", "needs exactly one of `s3` (a zip) and `imageUri` (a container image)".into())
        }
        _ => {}
    }
    if let Some(s3) = &code.s3 {
        if !is_bucket_name(&s3.bucket) {
            let shown: String = s3.bucket.chars().take(64).collect();
            err(
                "code.s3.bucket",
                format!("`{shown}` is not an S3 bucket name (3-63 lowercase letters, digits, `.`, `-`)"),
            );
        }
        if !(1..=1024).contains(&s3.key.len()) {
            err("code.s3.key", "must be 1-1024 characters".into());
        }
        if s3.object_version.as_ref().is_some_and(|v| !(1..=1024).contains(&v.len())) {
            err("code.s3.objectVersion", "must be 1-1024 characters".into());
        }
    }
    if let Some(uri) = &code.image_uri {
        if let Err(why) = parse_image_uri(uri) {
            let shown: String = uri.chars().take(80).collect();
            err("code.imageUri", format!("`{shown}` is not an ECR image URI: {why}"));
        }
        if code.sha256.is_some() {
            err("code.sha256", "applies to a zip (`s3`): an image's CodeSha256 is its digest".into());
        }
    }
    if code.sha256.as_ref().is_some_and(|h| !is_sha256_base64(h)) {
        err(
            "code.sha256",
            "must be the base64 SHA-256 of the zip (44 characters), as Lambda reports CodeSha256".into(),
        );
    }
}

/// Warnings: valid code whose later changes Lambda or the controller would not see.
pub fn warnings(s: &Spec, warn: &mut dyn FnMut(&str, String)) {
    let Some(code) = &s.code else { return };
    if code.image_uri.as_deref().is_some_and(|u| parse_image_uri(u) == Ok(ImageRef::Tag)) {
        warn(
            "code.imageUri",
            "a tag is mutable: Lambda resolves it to a digest once, at the update, so an image pushed \
             later under the same tag is neither deployed nor seen as drift; prefer @sha256:DIGEST"
                .into(),
        );
    }
    if code.s3.as_ref().is_some_and(|s3| s3.object_version.is_none()) && code.sha256.is_none() {
        warn(
            "code.s3",
            "neither `objectVersion` nor `sha256`: an object overwritten under the same key goes unnoticed".into(),
        );
    }
}
