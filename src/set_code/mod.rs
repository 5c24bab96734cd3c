//! `set-code`: CI writes a new S3 object version or image into one manifest's `spec.code`, editing
//! the file in place (comments, quoting, other documents unchanged), re-validated, atomically.

mod spans;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use yaml_rust2::scanner::TScalarStyle;

use crate::manifest::{load_dir, load_file, yaml};
use spans::{offset, scalar_end, At, Kind, Node};

#[derive(Debug, thiserror::Error)]
pub enum SetCodeError {
    #[error("{0}")]
    Load(String),
    #[error("no manifest manages function `{0}` (metadata.name or spec.functionName)")]
    NoMatch(String),
    #[error("{count} manifests manage function `{function}`: {names}; set-code edits exactly one")]
    SeveralMatches { function: String, count: usize, names: String },
    #[error("{0} is outside the manifest directory")]
    Outside(PathBuf),
    #[error("cannot edit {file} safely: {why}")]
    Unsafe { file: PathBuf, why: String },
    #[error("the edited manifest is not valid:\n{0}")]
    Invalid(String),
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The code to write: a zip's S3 object version (with its CodeSha256 when known), or an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewCode {
    S3 { bucket: String, key: String, object_version: String, sha256: Option<String> },
    Image { uri: String },
}

impl NewCode {
    /// From the command's flags: `--s3 s3://BUCKET/KEY --object-version V [--sha256 B64]` or
    /// `--image-uri URI` (clap makes them exclusive and required).
    pub fn from_flags(
        s3: Option<&str>,
        object_version: Option<&str>,
        sha256: Option<&str>,
        image_uri: Option<&str>,
    ) -> Result<NewCode, SetCodeError> {
        if let Some(uri) = image_uri {
            return Ok(NewCode::Image { uri: uri.to_string() });
        }
        let url = s3.unwrap_or_default();
        let (bucket, key) = url.strip_prefix("s3://").and_then(|r| r.split_once('/')).unwrap_or_default();
        if bucket.is_empty() || key.is_empty() {
            let shown: String = url.chars().take(80).collect();
            return Err(SetCodeError::Usage(format!("--s3 `{shown}` is not s3://BUCKET/KEY")));
        }
        Ok(NewCode::S3 {
            bucket: bucket.to_string(),
            key: key.to_string(),
            object_version: object_version.unwrap_or_default().to_string(),
            sha256: sha256.map(str::to_string),
        })
    }

    /// `spec.code` as the manifest will hold it.
    fn value(&self) -> Value {
        match self {
            NewCode::S3 { bucket, key, object_version, sha256 } => {
                let mut v = json!({"s3": {"bucket": bucket, "key": key, "objectVersion": object_version}});
                if let Some(h) = sha256 {
                    v["sha256"] = json!(h);
                }
                v
            }
            NewCode::Image { uri } => json!({"imageUri": uri}),
        }
    }

    /// Each scalar's path under `spec.code` and its new text.
    fn scalars(&self) -> Vec<(&'static str, &str)> {
        match self {
            NewCode::S3 { bucket, key, object_version, sha256 } => {
                let mut v = vec![("s3.bucket", bucket.as_str()), ("s3.key", key), ("s3.objectVersion", object_version)];
                v.extend(sha256.as_deref().map(|h| ("sha256", h)));
                v
            }
            NewCode::Image { uri } => vec![("imageUri", uri.as_str())],
        }
    }
}

/// The command: edits the one manifest of `function` under `dir`; prints what it did. Exit code.
pub fn command(dir: &Path, function: &str, code: &NewCode) -> i32 {
    match set_code(dir, function, code) {
        Ok(file) => {
            println!("set spec.code of `{function}` in {}", file.display());
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Finds the manifest, edits its file's text, re-validates it, then writes it atomically.
pub fn set_code(dir: &Path, function: &str, code: &NewCode) -> Result<PathBuf, SetCodeError> {
    let snapshot = load_dir(dir).map_err(|e| SetCodeError::Load(e.to_string()))?;
    if !snapshot.errors.is_empty() {
        let errors: Vec<String> = snapshot.errors.iter().map(ToString::to_string).collect();
        return Err(SetCodeError::Load(format!("the manifests are not valid; fix them first:\n{}", errors.join("\n"))));
    }
    let matches: Vec<_> = snapshot
        .manifests
        .iter()
        .filter(|m| m.name == function || m.function.name == function || m.function.raw == function)
        .collect();
    let m = match matches.as_slice() {
        [] => return Err(SetCodeError::NoMatch(function.to_string())),
        [m] => *m,
        several => {
            let names: Vec<String> = several.iter().map(|m| format!("{} ({})", m.name, m.file.display())).collect();
            let (function, count) = (function.to_string(), several.len());
            return Err(SetCodeError::SeveralMatches { function, count, names: names.join(", ") });
        }
    };
    let root = std::fs::canonicalize(dir).map_err(io(dir))?;
    let file = std::fs::canonicalize(&m.file).map_err(io(&m.file))?;
    if !file.starts_with(&root) {
        return Err(SetCodeError::Outside(m.file.clone()));
    }
    let text = std::fs::read_to_string(&file).map_err(io(&file))?;
    if text.len() as u64 > crate::manifest::load::MAX_FILE_BYTES {
        return Err(SetCodeError::Load(format!("{} is over the manifest size limit", m.file.display())));
    }
    let edited = edit(&text, &m.name, code).map_err(|why| SetCodeError::Unsafe { file: m.file.clone(), why })?;
    if let Err(errors) = load_file(&m.file, &edited) {
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(SetCodeError::Invalid(errors.join("\n")));
    }
    write_atomically(&file, &edited).map_err(io(&file))?;
    Ok(m.file.clone())
}

/// An I/O error naming its path.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SetCodeError + '_ {
    move |source| SetCodeError::Io { path: path.to_path_buf(), source }
}

/// A temporary file beside `file`, renamed over it: a reader sees the old text or the new one.
fn write_atomically(file: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let parent = file.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".set-code-").suffix(".tmp").tempfile_in(parent)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.as_file().set_permissions(std::fs::metadata(file)?.permissions())?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

/// `text` with `spec.code` of the document named `name` set to `code`: its scalars rewritten in
/// place when the code has the same fields, else the code node replaced, else a `code:` block
/// added to `spec`. Checked by parsing the result: only that value may differ.
pub fn edit(text: &str, name: &str, code: &NewCode) -> Result<String, String> {
    let values = yaml::parse(text).map_err(|e| format!("line {}: {}", e.pos.line, e.message))?;
    let docs = spans::collect(text).ok_or("the YAML has a construct set-code cannot follow (a complex key)")?;
    if docs.len() != values.len() {
        return Err("the documents could not be told apart".into());
    }
    let index = values
        .iter()
        .position(|d| d.value["metadata"]["name"] == json!(name))
        .ok_or_else(|| format!("no document named `{name}`"))?;
    let edited = splice(text, &docs[index], code)?;
    verify(&values, &edited, index, &code.value())?;
    Ok(edited)
}

/// The parsed result equals the original but for the one `spec.code`, which holds `want`.
fn verify(before: &[yaml::SpannedDoc], edited: &str, index: usize, want: &Value) -> Result<(), String> {
    let after = yaml::parse(edited).map_err(|e| format!("the edit would not parse (line {})", e.pos.line))?;
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
            spec.shift_remove("code");
        }
        v
    };
    let same_elsewhere = after.len() == before.len()
        && before.iter().zip(&after).enumerate().all(|(i, (b, a))| {
            if i == index {
                strip(&b.value) == strip(&a.value)
            } else {
                b.value == a.value
            }
        });
    if !same_elsewhere || &after[index].value["spec"]["code"] != want {
        return Err("the edit would change more than spec.code (an unusual layout); edit it by hand".into());
    }
    Ok(())
}

fn splice(text: &str, doc: &std::collections::HashMap<String, Node>, code: &NewCode) -> Result<String, String> {
    let spec = doc.get("spec").ok_or("the document has no spec")?;
    let Some(node) = doc.get("spec.code") else { return append(text, doc, spec, code) };
    // The fields present now (scalars under spec.code) must be the ones written.
    let present: Vec<&str> = doc
        .iter()
        .filter(|(p, n)| p.starts_with("spec.code.") && matches!(n.kind, Kind::Scalar(_) | Kind::Alias))
        .map(|(p, _)| &p["spec.code.".len()..])
        .collect();
    let scalars = code.scalars();
    let same_fields = present.len() == scalars.len() && scalars.iter().all(|(p, _)| present.contains(p));
    if same_fields {
        if let Some(out) = rewrite_scalars(text, doc, &scalars) {
            return Ok(out);
        }
    }
    replace_node(text, doc, node, code)
}

/// Each scalar rewritten in its own quoting style; `None` when one is not a one-line scalar.
fn rewrite_scalars(
    text: &str,
    doc: &std::collections::HashMap<String, Node>,
    scalars: &[(&str, &str)],
) -> Option<String> {
    let mut edits = vec![];
    for (path, value) in scalars {
        let n = doc.get(&format!("spec.code.{path}"))?;
        let Kind::Scalar(style) = n.kind else { return None };
        let start = offset(text, n.start);
        let end = scalar_end(text, start, style, n.in_flow)?;
        edits.push((start, end, render(value, style, n.in_flow)));
    }
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_string();
    for (start, end, new) in edits {
        out.replace_range(start..end, &new);
    }
    Some(out)
}

/// The whole `spec.code` value replaced: a flow node by a flow one, a block mapping by a block
/// at its indentation.
fn replace_node(
    text: &str,
    doc: &std::collections::HashMap<String, Node>,
    node: &Node,
    code: &NewCode,
) -> Result<String, String> {
    match node.kind {
        Kind::Map { flow: true, end } => {
            let (start, close) = (offset(text, node.start), offset(text, end));
            if text[close..].starts_with('}') {
                return Ok(format!("{}{}{}", &text[..start], flow(code), &text[close + 1..]));
            }
            Err("the flow mapping of spec.code does not end where expected".into())
        }
        Kind::Map { flow: false, .. } => {
            // From the first key's line to the last line any node under spec.code is on.
            let last = doc
                .iter()
                .filter(|(p, _)| p.starts_with("spec.code."))
                .map(|(_, n)| match n.kind {
                    Kind::Map { flow: true, end } | Kind::Seq { flow: true, end } => end.line,
                    _ => n.start.line,
                })
                .max()
                .unwrap_or(node.start.line);
            let start = offset(text, At { line: node.start.line, col: 0 });
            let end = offset(text, At { line: last + 1, col: 0 });
            let indent = " ".repeat(node.start.col);
            let step = node.start.col.saturating_sub(doc["spec"].start.col).max(2);
            let newline = if end == text.len() && !text.ends_with('\n') { "" } else { "\n" };
            let block = block(code, &indent, step);
            Ok(format!("{}{}{newline}{}", &text[..start], block.trim_end_matches('\n'), &text[end..]))
        }
        Kind::Scalar(_) => {
            let start = offset(text, node.start);
            let end = scalar_end(text, start, TScalarStyle::Plain, node.in_flow).ok_or("spec.code is not a mapping")?;
            Ok(format!("{}{}{}", &text[..start], flow(code), &text[end..]))
        }
        _ => Err("spec.code is not a mapping".into()),
    }
}

/// A `code:` block added as the last key of a block `spec`, indented like its keys.
fn append(
    text: &str,
    doc: &std::collections::HashMap<String, Node>,
    spec: &Node,
    code: &NewCode,
) -> Result<String, String> {
    let Kind::Map { flow: false, end } = spec.kind else {
        return Err("spec is a flow mapping ({…}); add spec.code by hand once".into());
    };
    let indent = spec.start.col;
    let step = indent.saturating_sub(doc.get("").map_or(0, |r| r.start.col)).max(2);
    // Before the blank lines and the less indented comments that lead to what follows spec.
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut line = end.line.min(lines.len());
    while line > spec.start.line {
        let l = lines[line - 1].trim_end();
        let indented = l.len() - l.trim_start().len();
        if l.is_empty() || (l.trim_start().starts_with('#') && indented < indent) {
            line -= 1;
        } else {
            break;
        }
    }
    let at = offset(text, At { line, col: 0 });
    let pad = " ".repeat(indent);
    let lead = if at > 0 && !text[..at].ends_with('\n') { "\n" } else { "" };
    let body = block(code, &" ".repeat(indent + step), step);
    Ok(format!("{}{lead}{pad}code:\n{body}{}", &text[..at], &text[at..]))
}

/// `code` as block-style lines under `indent`.
fn block(code: &NewCode, indent: &str, step: usize) -> String {
    let inner = format!("{indent}{}", " ".repeat(step));
    let plain = |v: &str| render(v, TScalarStyle::Plain, false);
    match code {
        NewCode::S3 { bucket, key, object_version, sha256 } => {
            let mut out = format!(
                "{indent}s3:\n{inner}bucket: {}\n{inner}key: {}\n{inner}objectVersion: {}\n",
                plain(bucket),
                plain(key),
                render(object_version, TScalarStyle::DoubleQuoted, false)
            );
            if let Some(h) = sha256 {
                out += &format!("{indent}sha256: {}\n", render(h, TScalarStyle::DoubleQuoted, false));
            }
            out
        }
        NewCode::Image { uri } => format!("{indent}imageUri: {}\n", plain(uri)),
    }
}

/// `code` as one flow mapping.
fn flow(code: &NewCode) -> String {
    let plain = |v: &str| render(v, TScalarStyle::Plain, true);
    match code {
        NewCode::S3 { bucket, key, object_version, sha256 } => {
            let version = render(object_version, TScalarStyle::DoubleQuoted, true);
            let sha = sha256.as_deref().map(|h| format!(", sha256: {}", render(h, TScalarStyle::DoubleQuoted, true)));
            format!(
                "{{s3: {{bucket: {}, key: {}, objectVersion: {version}}}{}}}",
                plain(bucket),
                plain(key),
                sha.unwrap_or_default()
            )
        }
        NewCode::Image { uri } => format!("{{imageUri: {}}}", plain(uri)),
    }
}

/// `value` as a YAML scalar in `style` where it reads back as that string; double-quoted otherwise.
fn render(value: &str, style: TScalarStyle, in_flow: bool) -> String {
    let reads_back = |text: &str| {
        let doc = if in_flow { format!("k: [{text}]\n") } else { format!("k: {text}\n") };
        let v = yaml::parse(&doc).ok().and_then(|d| d.into_iter().next()).map(|d| d.value["k"].clone());
        let v = if in_flow { v.and_then(|v| v.get(0).cloned()) } else { v };
        v == Some(json!(value))
    };
    let single = format!("'{}'", value.replace('\'', "''"));
    match style {
        TScalarStyle::Plain if !value.contains(['\n', '\r']) && reads_back(value) => value.to_string(),
        TScalarStyle::SingleQuoted if !value.chars().any(char::is_control) && reads_back(&single) => single,
        _ => {
            let mut out = String::from("\"");
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                    c => out.push(c),
                }
            }
            out + "\""
        }
    }
}

#[cfg(test)]
mod tests;
