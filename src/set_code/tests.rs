//! Golden files: `set-code` changes only the spans of `spec.code` (or adds or replaces that one
//! node); comments, quoting, layout and the other documents stay byte for byte.

use super::*;

const INPUT: &str = include_str!("../../tests/fixtures/set-code/input.yaml");
const DIGEST_1: &str = "1111111111111111111111111111111111111111111111111111111111111111";

fn s3(bucket: &str, key: &str, version: &str, sha256: Option<&str>) -> NewCode {
    NewCode::S3 {
        bucket: bucket.into(),
        key: key.into(),
        object_version: version.into(),
        sha256: sha256.map(str::to_string),
    }
}

fn image(digest: &str) -> NewCode {
    NewCode::Image { uri: format!("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/app@sha256:{digest}") }
}

#[test]
fn a_new_object_version_rewrites_only_the_spans_in_their_own_quotes() {
    let sha = "q9XxXxXxXxXxXxXxXxXxXxXxXxXxXxXxXxXxXxXxXxA=";
    let code = s3("app-code", "orders/fn.zip", "3HL4kqtJlcpXroDTDmJ", Some(sha));
    let out = edit(INPUT, "app-orders", &code).unwrap();
    assert_eq!(out, include_str!("../../tests/fixtures/set-code/orders-new-version.expected.yaml"));
}

#[test]
fn a_manifest_without_code_gets_a_block_indented_like_its_spec_keys() {
    let out = edit(INPUT, "app-worker", &s3("app-code", "worker/fn.zip", "7", None)).unwrap();
    assert_eq!(out, include_str!("../../tests/fixtures/set-code/worker-code-added.expected.yaml"));
}

#[test]
fn switching_an_image_to_s3_replaces_the_code_block_only() {
    let out = edit(INPUT, "app-image", &s3("app-code", "img/fn.zip", "v9", None)).unwrap();
    assert_eq!(out, include_str!("../../tests/fixtures/set-code/image-to-s3.expected.yaml"));
}

#[test]
fn a_new_image_digest_rewrites_the_uri_in_place() {
    let out = edit(INPUT, "app-image", &image(&"2".repeat(64))).unwrap();
    assert_eq!(out, include_str!("../../tests/fixtures/set-code/image-new-digest.expected.yaml"));
    assert_eq!(edit(INPUT, "app-image", &image(DIGEST_1)).unwrap(), INPUT, "the same code: the same bytes");
}

#[test]
fn dropping_the_sha256_replaces_the_code_block_and_keeps_what_surrounds_it() {
    let out = edit(INPUT, "app-orders", &s3("app-code", "orders/fn.zip", "v2", None)).unwrap();
    let want = INPUT.replace(
        "    s3: {bucket: app-code, key: 'orders/fn.zip', objectVersion: \"v1\"}  # pinned\n    sha256: \"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"\n",
        "    s3:\n      bucket: app-code\n      key: orders/fn.zip\n      objectVersion: \"v2\"\n",
    );
    assert_eq!(out, want);
}

#[test]
fn a_flow_code_node_is_replaced_by_a_flow_node() {
    let text = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata: {name: f}\nspec:\n  code: {imageUri: x}  # c\n  timeout: 3\n";
    let out = edit(text, "f", &s3("b-1", "k", "1", None)).unwrap();
    assert_eq!(out, text.replace("{imageUri: x}", "{s3: {bucket: b-1, key: k, objectVersion: \"1\"}}"));
}

#[test]
fn values_that_would_read_back_as_something_else_are_quoted() {
    assert_eq!(render("123", TScalarStyle::Plain, false), "\"123\"");
    assert_eq!(render("a: b", TScalarStyle::Plain, false), "\"a: b\"");
    assert_eq!(render("a,b", TScalarStyle::Plain, true), "\"a,b\"");
    assert_eq!(render("it's", TScalarStyle::SingleQuoted, false), "'it''s'");
    assert_eq!(render("say \"hi\"\n", TScalarStyle::DoubleQuoted, false), "\"say \\\"hi\\\"\\u000a\"");
    assert_eq!(render("plain/key.zip", TScalarStyle::Plain, false), "plain/key.zip");
}

#[test]
fn a_flow_spec_or_an_unknown_name_is_refused() {
    let text =
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata: {name: f}\nspec: {timeout: 3}\n";
    assert!(edit(text, "f", &image(DIGEST_1)).unwrap_err().contains("flow mapping"));
    assert!(edit(INPUT, "nobody", &image(DIGEST_1)).unwrap_err().contains("no document named"));
}
