//! Validation warnings: what is valid but likely a mistake, located like errors; `validate` and
//! `plan` print them, the exit code does not change. A rule adds one line to `document`.

use std::path::Path;

use super::model::Document;
use super::snapshot::{error_at, ManifestError};
use super::yaml::SpannedDoc;

/// The most warnings kept for one document (each is already bounded in length).
pub const MAX_WARNINGS: usize = 32;

/// Every warning of a valid document, located at file:line:field.
pub fn document(file: &Path, doc: &Document, spanned: &SpannedDoc) -> Vec<ManifestError> {
    let mut out = Vec::new();
    let mut warn = |field: &str, message: String| {
        if out.len() < MAX_WARNINGS {
            let field = format!("spec.{field}");
            out.push(error_at(file, spanned.pos_of(&field), &field, message));
        }
    };
    super::code::warnings(&doc.spec, &mut warn);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warnings(spec: &str) -> Vec<ManifestError> {
        let text = format!(
            "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: f\nspec:\n{spec}"
        );
        let spanned = super::super::yaml::parse(&text).unwrap().remove(0);
        let doc: Document = serde_json::from_value(spanned.value.clone()).unwrap();
        document(Path::new("f.yaml"), &doc, &spanned)
    }

    #[test]
    fn an_image_tag_is_warned_about_where_it_is_written() {
        let w = warnings("  code:\n    imageUri: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:latest\n");
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!((w[0].line, w[0].field.as_str()), (7, "spec.code.imageUri"));
        assert!(w[0].message.contains("mutable"), "{w:?}");
        let digest = format!(
            "  code:\n    imageUri: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:{}\n",
            "a".repeat(64)
        );
        assert!(warnings(&digest).is_empty());
    }

    #[test]
    fn an_s3_key_without_a_version_or_a_hash_is_warned_about() {
        let w = warnings("  code:\n    s3: {bucket: app, key: fn.zip}\n");
        assert_eq!((w.len(), w[0].line, w[0].field.as_str()), (1, 7, "spec.code.s3"), "{w:?}");
        assert!(w[0].message.contains("overwritten"), "{w:?}");
        assert!(warnings("  code:\n    s3: {bucket: app, key: fn.zip, objectVersion: v1}\n").is_empty());
        let sha = "  code:\n    s3: {bucket: app, key: fn.zip}\n    sha256: \"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"\n";
        assert!(warnings(sha).is_empty());
    }
}
