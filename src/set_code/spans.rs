//! Where each node of a YAML file is, by document and field path: what `set-code` needs to
//! rewrite one value in place (yaml-rust2 reads comments but cannot write them back).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position: 0-based line and character column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct At {
    pub line: usize,
    pub col: usize,
}

impl From<Marker> for At {
    fn from(m: Marker) -> Self {
        At { line: m.line().saturating_sub(1), col: m.col() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scalar(TScalarStyle),
    /// A mapping; `flow` for `{…}`; `end` is where its end event is (the `}` of a flow one).
    Map {
        flow: bool,
        end: At,
    },
    Seq {
        flow: bool,
        end: At,
    },
    Alias,
}

/// One node: where it starts, its kind, whether it sits inside a flow collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub start: At,
    pub kind: Kind,
    pub in_flow: bool,
}

enum Frame {
    /// `start` is the first key's position once seen (a block mapping's event marks its `:`).
    Map {
        path: String,
        key: Option<String>,
        start: At,
        flow: bool,
        first_key: bool,
    },
    Seq {
        path: String,
        index: usize,
        start: At,
        flow: bool,
    },
}

/// Every node's span by path (`spec.code.s3.bucket`), one map per document.
#[derive(Default)]
struct Collector {
    docs: Vec<HashMap<String, Node>>,
    stack: Vec<Frame>,
    text_lines: Vec<Vec<char>>,
    complex_key: bool,
}

impl Collector {
    fn in_flow(&self) -> bool {
        self.stack.iter().any(|f| matches!(f, Frame::Map { flow: true, .. } | Frame::Seq { flow: true, .. }))
    }

    fn opens_flow(&self, at: At, open: char) -> bool {
        self.text_lines.get(at.line).and_then(|l| l.get(at.col)) == Some(&open)
    }

    /// The path of the node starting now, or `None` when it is a mapping key (then recorded).
    fn place(&mut self, key_text: Option<&str>, at: At) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, index, .. }) => {
                *index += 1;
                Some(format!("{path}[{}]", *index - 1))
            }
            Some(Frame::Map { path, key, start, flow, first_key }) => match key.take() {
                Some(k) if path.is_empty() => Some(k),
                Some(k) => Some(format!("{path}.{k}")),
                None => {
                    if !*first_key && !*flow {
                        *start = at;
                    }
                    *first_key = true;
                    match key_text {
                        Some(t) => *key = Some(t.to_string()),
                        None => self.complex_key = true,
                    }
                    None
                }
            },
        }
    }

    fn record(&mut self, path: String, node: Node) {
        if let Some(d) = self.docs.last_mut() {
            d.insert(path, node);
        }
    }
}

impl MarkedEventReceiver for Collector {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = At::from(mark);
        match ev {
            Event::DocumentStart => self.docs.push(HashMap::new()),
            Event::Scalar(v, style, ..) => {
                let in_flow = self.in_flow();
                if let Some(path) = self.place(Some(&v), at) {
                    self.record(path, Node { start: at, kind: Kind::Scalar(style), in_flow });
                }
            }
            Event::Alias(_) => {
                let in_flow = self.in_flow();
                if let Some(path) = self.place(None, at) {
                    self.record(path, Node { start: at, kind: Kind::Alias, in_flow });
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let map = matches!(ev, Event::MappingStart(..));
                let flow = self.opens_flow(at, if map { '{' } else { '[' });
                let path = self.place(None, at).unwrap_or_default();
                self.stack.push(if map {
                    Frame::Map { path, key: None, start: at, flow, first_key: false }
                } else {
                    Frame::Seq { path, index: 0, start: at, flow }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let in_flow_parent = self.stack.len() > 1 && {
                    let outer = &self.stack[..self.stack.len() - 1];
                    outer.iter().any(|f| matches!(f, Frame::Map { flow: true, .. } | Frame::Seq { flow: true, .. }))
                };
                match self.stack.pop() {
                    Some(Frame::Map { path, start, flow, .. }) => {
                        self.record(path, Node { start, kind: Kind::Map { flow, end: at }, in_flow: in_flow_parent })
                    }
                    Some(Frame::Seq { path, start, flow, .. }) => {
                        self.record(path, Node { start, kind: Kind::Seq { flow, end: at }, in_flow: in_flow_parent })
                    }
                    None => {}
                }
            }
            _ => {}
        }
    }
}

/// The spans of every document of `text` (`None` for YAML that does not parse, or with a
/// non-scalar mapping key).
pub fn collect(text: &str) -> Option<Vec<HashMap<String, Node>>> {
    let mut c = Collector { text_lines: text.lines().map(|l| l.chars().collect()).collect(), ..Default::default() };
    Parser::new_from_str(text).load(&mut c, true).ok()?;
    (!c.complex_key).then_some(c.docs)
}

/// The byte offset of `at` in `text` (the end of the text past its last line).
pub fn offset(text: &str, at: At) -> usize {
    let mut start = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i == at.line {
            return start + line.char_indices().nth(at.col).map_or(line.len(), |(b, _)| b);
        }
        start += line.len();
    }
    text.len()
}

/// Where a one-line scalar ends (byte offset just past it), from its start and style; `None`
/// for block scalars and for quoted ones that do not close on their line.
pub fn scalar_end(text: &str, start: usize, style: TScalarStyle, in_flow: bool) -> Option<usize> {
    let rest = &text[start..];
    let line = rest.split('\n').next().unwrap_or("");
    let len = match style {
        TScalarStyle::SingleQuoted => {
            let mut chars = line.char_indices().skip(1).peekable();
            loop {
                match chars.next()? {
                    (_, '\'') if chars.peek().map(|c| c.1) == Some('\'') => drop(chars.next()),
                    (i, '\'') => break i + 1,
                    _ => {}
                }
            }
        }
        TScalarStyle::DoubleQuoted => {
            let mut chars = line.char_indices().skip(1);
            loop {
                match chars.next()? {
                    (_, '\\') => drop(chars.next()),
                    (i, '"') => break i + 1,
                    _ => {}
                }
            }
        }
        TScalarStyle::Plain => {
            let mut end = line.len();
            let mut prev = ' ';
            for (i, c) in line.char_indices() {
                let stops = (c == '#' && prev.is_whitespace()) || (in_flow && ",]}".contains(c));
                if stops {
                    end = i;
                    break;
                }
                prev = c;
            }
            line[..end].trim_end().len()
        }
        _ => return None,
    };
    Some(start + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_name_every_node_by_document_and_path() {
        let text = "a: 1\n---\n# c\nspec:\n  code:\n    s3: {bucket: 'b', key: \"k\"}  # x\n  n: [1, 2]\n";
        let docs = collect(text).unwrap();
        assert_eq!(docs.len(), 2);
        let d = &docs[1];
        assert_eq!(d["spec.code.s3.bucket"].start, At { line: 5, col: 17 });
        assert_eq!(d["spec.code.s3.bucket"].kind, Kind::Scalar(TScalarStyle::SingleQuoted));
        assert!(d["spec.code.s3.key"].in_flow);
        assert!(matches!(d["spec.code.s3"].kind, Kind::Map { flow: true, .. }));
        assert!(matches!(d["spec.code"].kind, Kind::Map { flow: false, .. }));
        assert_eq!(d["spec.n[1]"].start, At { line: 6, col: 9 });
    }

    #[test]
    fn a_scalar_ends_at_its_closing_quote_or_before_a_comment_or_a_flow_separator() {
        let t = "k: 'it''s' # c\nv: \"a\\\"b\" x\np: plain text  # c\nf: {a: x y, b: z}\n";
        let end = |line: usize, col: usize, style, flow| {
            let s = offset(t, At { line, col });
            scalar_end(t, s, style, flow).map(|e| &t[s..e])
        };
        assert_eq!(end(0, 3, TScalarStyle::SingleQuoted, false), Some("'it''s'"));
        assert_eq!(end(1, 3, TScalarStyle::DoubleQuoted, false), Some("\"a\\\"b\""));
        assert_eq!(end(2, 3, TScalarStyle::Plain, false), Some("plain text"));
        assert_eq!(end(3, 7, TScalarStyle::Plain, true), Some("x y"));
        assert_eq!(end(0, 3, TScalarStyle::Literal, false), None);
    }
}
