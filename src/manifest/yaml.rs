//! YAML text → JSON values plus a map from every field path to its line and column.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Nesting deeper than this is rejected (a manifest is never this deep; it guards the stack).
const MAX_DEPTH: usize = 64;
/// Alias expansion budget in nodes (guards against "billion laughs").
const MAX_NODES: usize = 200_000;
/// Alias expansion budget in bytes of scalar text: a document may hold at most this much text
/// once its aliases are expanded (4 × the 1 MiB file limit), so a long string repeated by
/// aliases fails fast instead of allocating gigabytes.
pub const MAX_EXPANDED_BYTES: usize = 4 * 1024 * 1024;

/// A position in a file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        Pos { line: m.line().max(1), column: m.col() + 1 }
    }
}

/// One YAML document as a JSON value, with positions of every path (`a.b[0].c`).
#[derive(Debug, Clone)]
pub struct SpannedDoc {
    pub value: Value,
    pub start: Pos,
    pub spans: HashMap<String, Pos>,
}

impl SpannedDoc {
    /// Position of `path`, or of its nearest ancestor that has one.
    pub fn pos_of(&self, path: &str) -> Pos {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.spans.get(&p) {
                return *pos;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p.truncate(i),
                None => return self.spans.get("").copied().unwrap_or(self.start),
            }
        }
    }
}

/// A YAML error with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

#[derive(Debug, Clone)]
enum Node {
    Scalar(String, TScalarStyle, Option<String>),
    Seq(Vec<(Node, Pos)>),
    Map(Vec<((Node, Pos), (Node, Pos))>),
}

enum Frame {
    Seq(Vec<(Node, Pos)>, usize, Pos),
    Map(Vec<((Node, Pos), (Node, Pos))>, Option<(Node, Pos)>, usize, Pos),
}

#[derive(Default)]
struct Builder {
    docs: Vec<(Node, Pos)>,
    stack: Vec<Frame>,
    /// Each anchored node with its expanded size (nodes, bytes).
    anchors: HashMap<usize, (Node, Size)>,
    nodes: usize,
    bytes: usize,
    error: Option<YamlError>,
}

/// The expanded size of a node: (nodes, bytes of scalar text).
type Size = (usize, usize);

fn size(n: &Node) -> Size {
    let add = |(a, b): Size, (c, d): Size| (a.saturating_add(c), b.saturating_add(d));
    match n {
        Node::Scalar(s, ..) => (1, s.len()),
        Node::Seq(v) => v.iter().map(|(n, _)| size(n)).fold((1, 0), add),
        Node::Map(v) => v.iter().map(|((k, _), (n, _))| add(size(k), size(n))).fold((1, 0), add),
    }
}

impl Builder {
    fn fail(&mut self, pos: Pos, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(YamlError { pos, message: message.into() });
        }
    }

    /// Counts `cost` against the budgets; false (and the error set) once one is spent.
    fn spend(&mut self, (nodes, bytes): Size, pos: Pos) -> bool {
        self.nodes = self.nodes.saturating_add(nodes);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.nodes > MAX_NODES {
            self.fail(pos, "document too large (alias expansion limit reached)");
        } else if self.bytes > MAX_EXPANDED_BYTES {
            let m =
                format!("document too large: over {MAX_EXPANDED_BYTES} bytes of text once its aliases are expanded");
            self.fail(pos, m);
        }
        self.error.is_none()
    }

    /// Adds `node` (whose own cost is already spent) to its parent.
    fn push_node(&mut self, node: Node, pos: Pos, anchor: usize) {
        if anchor > 0 {
            // The anchor keeps a copy: it counts against the budgets like any expansion.
            let s = size(&node);
            if !self.spend(s, pos) {
                return;
            }
            self.anchors.insert(anchor, (node.clone(), s));
        }
        match self.stack.last_mut() {
            None => self.docs.push((node, pos)),
            Some(Frame::Seq(items, ..)) => items.push((node, pos)),
            Some(Frame::Map(entries, key, ..)) => match key.take() {
                None => *key = Some((node, pos)),
                Some(k) => entries.push((k, (node, pos))),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = Pos::from(mark);
        match ev {
            Event::Scalar(v, style, anchor, tag) => {
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                if self.spend((1, v.len()), pos) {
                    self.push_node(Node::Scalar(v, style, tag), pos, anchor)
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) if self.stack.len() >= MAX_DEPTH => {
                let _ = anchor;
                self.fail(pos, format!("nesting deeper than {MAX_DEPTH} levels"))
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(vec![], anchor, pos)),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map(vec![], None, anchor, pos)),
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, anchor, p)) = self.stack.pop() {
                    if self.spend((1, 0), p) {
                        self.push_node(Node::Seq(items), p, anchor)
                    }
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(entries, _, anchor, p)) = self.stack.pop() {
                    if self.spend((1, 0), p) {
                        self.push_node(Node::Map(entries), p, anchor)
                    }
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).map(|(_, s)| *s) {
                // Spent before the copy is made: a budget that runs out copies nothing.
                Some(cost) if self.spend(cost, pos) => {
                    let node = self.anchors[&id].0.clone();
                    self.push_node(node, pos, 0)
                }
                Some(_) => {}
                None => self.fail(pos, "alias to an unknown anchor"),
            },
            _ => {}
        }
    }
}

/// Parses every document of `text`.
pub fn parse(text: &str) -> Result<Vec<SpannedDoc>, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        return Err(YamlError { pos: Pos::from(*e.marker()), message: e.info().to_string() });
    }
    if let Some(e) = builder.error {
        return Err(e);
    }
    let mut out = Vec::new();
    // The field paths recorded (each repeats its parents' keys) share the text budget.
    let mut budget = MAX_EXPANDED_BYTES;
    for (node, pos) in builder.docs {
        let mut spans = HashMap::new();
        spans.insert(String::new(), pos);
        let value = to_json(&node, "", &mut Spans { map: &mut spans, budget: &mut budget })?;
        out.push(SpannedDoc { value, start: pos, spans });
    }
    Ok(out)
}

/// Where the positions of a document's paths go, and what is left of the bytes they may take.
struct Spans<'a> {
    map: &'a mut HashMap<String, Pos>,
    budget: &'a mut usize,
}

impl Spans<'_> {
    fn insert(&mut self, path: String, pos: Pos) -> Result<(), YamlError> {
        match self.budget.checked_sub(path.len()) {
            Some(left) => {
                *self.budget = left;
                self.map.insert(path, pos);
                Ok(())
            }
            None => Err(YamlError {
                pos,
                message: format!("document too large: its field paths are over {MAX_EXPANDED_BYTES} bytes"),
            }),
        }
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn to_json(node: &Node, path: &str, spans: &mut Spans) -> Result<Value, YamlError> {
    Ok(match node {
        Node::Scalar(s, style, tag) => scalar(s, *style, tag.as_deref()),
        Node::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, (n, p)) in items.iter().enumerate() {
                let child = format!("{path}[{i}]");
                spans.insert(child.clone(), *p)?;
                out.push(to_json(n, &child, spans)?);
            }
            Value::Array(out)
        }
        Node::Map(entries) => {
            let mut out = Map::new();
            for ((k, kpos), (v, _)) in entries {
                let key = match k {
                    Node::Scalar(s, ..) => s.clone(),
                    _ => return Err(YamlError { pos: *kpos, message: "mapping keys must be scalars".into() }),
                };
                if out.contains_key(&key) {
                    return Err(YamlError { pos: *kpos, message: format!("duplicate key `{key}`") });
                }
                let child = child(path, &key);
                spans.insert(child.clone(), *kpos)?;
                let value = to_json(v, &child, spans)?;
                out.insert(key, value);
            }
            Value::Object(out)
        }
    })
}

/// Resolves a scalar with the YAML 1.2 core schema.
fn scalar(s: &str, style: TScalarStyle, tag: Option<&str>) -> Value {
    if style != TScalarStyle::Plain || tag == Some("!!str") {
        return Value::String(s.to_string());
    }
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        return Value::Number(i.into());
    }
    let looks_numeric = s.trim_start_matches(['-', '+']).starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if looks_numeric {
        if let Some(n) = s.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_records_line_and_column_of_every_key() {
        let docs = parse("a:\n  b: 1\n  c:\n    - x\n    - {d: true}\n").unwrap();
        let d = &docs[0];
        assert_eq!(d.spans["a.b"], Pos { line: 2, column: 3 });
        assert_eq!(d.spans["a.c[1].d"], Pos { line: 5, column: 8 });
        assert_eq!(d.value["a"]["c"][1]["d"], Value::Bool(true));
    }

    #[test]
    fn parse_splits_documents_and_keeps_quoted_numbers_as_strings() {
        let docs = parse("a: \"1\"\n---\na: 1\n---\na: 0.5\n").unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].value["a"], Value::String("1".into()));
        assert_eq!(docs[1].value["a"], Value::from(1));
        assert_eq!(docs[2].value["a"], Value::from(0.5));
        assert_eq!(docs[2].spans["a"].line, 5);
    }

    #[test]
    fn parse_reports_the_line_of_a_syntax_error() {
        let err = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.pos.line >= 2, "{err:?}");
    }

    #[test]
    fn parse_rejects_duplicate_keys_at_the_second_key() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.pos.line, 3);
        assert!(err.message.contains("duplicate key `a`"));
    }

    #[test]
    fn parse_rejects_deep_nesting_instead_of_overflowing_the_stack() {
        let text = "[".repeat(500) + &"]".repeat(500);
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("nest") || err.message.contains("recursion"), "{err:?}");
    }

    #[test]
    fn parse_stops_alias_expansion_bombs() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text += &format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n");
        }
        assert!(parse(&text).unwrap_err().message.contains("too large"));
    }

    #[test]
    fn parse_stops_a_long_string_repeated_by_aliases_before_copying_it() {
        // 600,000 bytes repeated 100 times: 60 MB once expanded, in a 1 MB file; 1,000 nodes.
        let text = format!("[&a \"{}\"{}]\n", "x".repeat(600_000), ", *a".repeat(100));
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("bytes of text once its aliases are expanded"), "{err:?}");
    }
    #[test]
    fn parse_bounds_the_field_paths_it_records_by_the_text_budget() {
        // Each element's span key repeats the long key: 2,000 × 150,000 = 300 MB of paths from a
        // 302 KB file (a 500 KB key takes a 800 KB file to 75 GB).
        let text = format!("? {}\n: [{}0]\n", "k".repeat(2_000), "0,".repeat(150_000));
        assert!(text.len() < 1024 * 1024);
        if let Ok(docs) = parse(&text) {
            let paths: usize = docs.iter().flat_map(|d| d.spans.keys()).map(String::len).sum();
            assert!(paths <= MAX_EXPANDED_BYTES, "{paths} bytes of field paths from a {}-byte file", text.len());
        }
    }
}
