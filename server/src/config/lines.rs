//! Line numbers of keys, found by a cheap scan of the source text.
//!
//! The YAML library gives no position for a value it parsed without error, yet a problem is
//! much easier to fix with its line. This scan follows block style (indentation, `- ` items,
//! quoted keys, block scalars) and records the line of each key path. Keys inside flow
//! collections (`{a: 1}`) are not indexed: a problem there takes the line of the nearest
//! indexed ancestor, which is the line they are written on.

use std::collections::HashMap;

use super::problems::{Segment, render};

/// Key path (rendered as in problems: `servers.a.args[0]`) → the lines it appears on.
#[derive(Debug, Default)]
pub struct LineIndex {
    lines: HashMap<String, Vec<usize>>,
}

struct Frame {
    /// Column of the key, or of the `-` of an item; -1 for the document root.
    column: isize,
    segments: Vec<Segment>,
    /// An item of a sequence (rather than a mapping key).
    item: bool,
    /// Index of the next item of a sequence this node holds.
    next_index: usize,
}

impl LineIndex {
    pub fn build(text: &str) -> Self {
        let mut index = LineIndex::default();
        let mut stack = vec![root()];
        // While inside a block scalar (`key: |`), lines indented deeper than this column are
        // its text, not keys.
        let mut block_scalar_column: Option<usize> = None;

        for (offset, line) in text.lines().enumerate() {
            let number = offset + 1;
            let indent = line.len() - line.trim_start_matches(' ').len();
            let mut rest = &line[indent..];
            if let Some(column) = block_scalar_column {
                if rest.trim().is_empty() || indent > column {
                    continue;
                }
                block_scalar_column = None;
            }
            if rest.is_empty() || rest.starts_with('#') {
                continue;
            }
            if indent == 0 && is_document_marker(rest) {
                stack = vec![root()];
                continue;
            }

            let mut column = indent;
            while rest == "-" || rest.starts_with("- ") {
                index.item(&mut stack, column, number);
                let after = &rest[1..];
                let spaces = after.len() - after.trim_start_matches(' ').len();
                column += 1 + spaces;
                rest = &after[spaces..];
            }
            if let Some((key, value)) = split_key(rest) {
                index.key(&mut stack, column, key, number);
                if is_block_scalar_header(value) {
                    block_scalar_column = Some(column);
                }
            }
        }
        index
    }

    /// The first line where this key path appears.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        self.occurrences(path).first().copied()
    }

    /// Every line where this key path appears (more than one when a key is repeated).
    pub fn occurrences(&self, path: &str) -> &[usize] {
        self.lines.get(path).map(Vec::as_slice).unwrap_or(&[])
    }

    fn key(&mut self, stack: &mut Vec<Frame>, column: usize, key: String, number: usize) {
        let column = column as isize;
        while stack.len() > 1 && stack.last().is_some_and(|top| top.column >= column) {
            stack.pop();
        }
        let mut segments = stack
            .last()
            .map(|top| top.segments.clone())
            .unwrap_or_default();
        segments.push(Segment::Key(key));
        self.record(&segments, number);
        stack.push(Frame {
            column,
            segments,
            item: false,
            next_index: 0,
        });
    }

    fn item(&mut self, stack: &mut Vec<Frame>, column: usize, number: usize) {
        let column = column as isize;
        // A sequence may sit at the same column as the key that holds it (`rules:` then
        // `- roles: …` below it), so only items, not keys, of this column are siblings.
        while stack.len() > 1
            && stack
                .last()
                .is_some_and(|top| top.column > column || (top.column == column && top.item))
        {
            stack.pop();
        }
        let Some(owner) = stack.last_mut() else {
            return;
        };
        let mut segments = owner.segments.clone();
        segments.push(Segment::Index(owner.next_index));
        owner.next_index += 1;
        self.record(&segments, number);
        stack.push(Frame {
            column,
            segments,
            item: true,
            next_index: 0,
        });
    }

    fn record(&mut self, segments: &[Segment], number: usize) {
        self.lines.entry(render(segments)).or_default().push(number);
    }
}

fn root() -> Frame {
    Frame {
        column: -1,
        segments: Vec::new(),
        item: false,
        next_index: 0,
    }
}

fn is_document_marker(rest: &str) -> bool {
    ["---", "..."].iter().any(|marker| {
        rest.strip_prefix(marker)
            .is_some_and(|after| after.is_empty() || after.starts_with([' ', '\t']))
    })
}

/// `key: value` → (`key`, `value`), for plain, single- and double-quoted keys.
fn split_key(rest: &str) -> Option<(String, &str)> {
    let (key, after) = match rest.chars().next()? {
        '"' => {
            let end = closing_double_quote(rest)?;
            (
                rest[1..end].replace("\\\"", "\"").replace("\\\\", "\\"),
                &rest[end + 1..],
            )
        }
        '\'' => {
            let end = closing_single_quote(rest)?;
            (rest[1..end].replace("''", "'"), &rest[end + 1..])
        }
        // Flow collections, anchors, aliases, tags, block scalars, complex keys: no key here.
        '{' | '[' | '&' | '*' | '!' | '|' | '>' | '?' | '%' | '@' | '`' | '#' => return None,
        _ => {
            let colon = plain_key_end(rest)?;
            (rest[..colon].trim_end().to_owned(), &rest[colon..])
        }
    };
    let value = after.trim_start_matches(' ').strip_prefix(':')?;
    if !(value.is_empty() || value.starts_with([' ', '\t'])) {
        return None;
    }
    Some((key, value.trim_start()))
}

/// Position of the `:` that ends a plain key: the first one followed by a space or the end.
fn plain_key_end(rest: &str) -> Option<usize> {
    let bytes = rest.as_bytes();
    bytes.iter().enumerate().find_map(|(position, byte)| {
        let ends_key =
            *byte == b':' && matches!(bytes.get(position + 1), None | Some(b' ') | Some(b'\t'));
        ends_key.then_some(position)
    })
}

fn closing_double_quote(rest: &str) -> Option<usize> {
    let mut escaped = false;
    for (position, character) in rest.char_indices().skip(1) {
        match character {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(position),
            _ => escaped = false,
        }
    }
    None
}

fn closing_single_quote(rest: &str) -> Option<usize> {
    let mut characters = rest.char_indices().skip(1).peekable();
    while let Some((position, character)) = characters.next() {
        if character == '\'' {
            if characters.peek().is_some_and(|(_, next)| *next == '\'') {
                characters.next();
                continue;
            }
            return Some(position);
        }
    }
    None
}

/// `|`, `>-`, `|2+ # comment` …: the value starts a block scalar on the next lines.
fn is_block_scalar_header(value: &str) -> bool {
    let header = value.split(" #").next().unwrap_or("").trim_end();
    let mut characters = header.chars();
    matches!(characters.next(), Some('|' | '>'))
        && characters.all(|c| c == '+' || c == '-' || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# comment
servers:
  prod-elk-1:
    type: http
    url: https://elk.example.com/mcp   # trailing comment
    timeout: 60
    description: |
      not: a key
      - nor an item
    tags: [a, b]
    auth:
      method: bearer
      credential_ref: env://TOKEN
  local:
    type: stdio
    args:
    - -y
    - pkg
    env:
      \"QUOTED\": x
      'single''s': y
authorization:
  default: deny
  rules:
  - roles: [admin]
    allow: ['*']
  -   roles:
        - user
      deny: [x]
rate_limits:
  per_tool:
    \"broadcast__*\": {requests_per_minute: 30, burst: 5}
";

    #[test]
    fn finds_nested_keys() {
        let index = LineIndex::build(SAMPLE);
        assert_eq!(index.line_of("servers"), Some(2));
        assert_eq!(index.line_of("servers.prod-elk-1"), Some(3));
        assert_eq!(index.line_of("servers.prod-elk-1.url"), Some(5));
        assert_eq!(index.line_of("servers.prod-elk-1.timeout"), Some(6));
        assert_eq!(index.line_of("servers.prod-elk-1.tags"), Some(10));
        assert_eq!(
            index.line_of("servers.prod-elk-1.auth.credential_ref"),
            Some(13)
        );
        assert_eq!(index.line_of("servers.local"), Some(14));
    }

    #[test]
    fn block_scalar_text_is_not_keys() {
        let index = LineIndex::build(SAMPLE);
        assert_eq!(index.line_of("servers.prod-elk-1.description"), Some(7));
        assert_eq!(index.line_of("servers.prod-elk-1.description.not"), None);
        assert_eq!(index.line_of("servers.prod-elk-1.not"), None);
    }

    #[test]
    fn sequence_items_and_their_keys() {
        let index = LineIndex::build(SAMPLE);
        assert_eq!(index.line_of("servers.local.args[0]"), Some(17));
        assert_eq!(index.line_of("servers.local.args[1]"), Some(18));
        assert_eq!(index.line_of("authorization.rules[0]"), Some(25));
        assert_eq!(index.line_of("authorization.rules[0].roles"), Some(25));
        assert_eq!(index.line_of("authorization.rules[0].allow"), Some(26));
        assert_eq!(index.line_of("authorization.rules[1].roles"), Some(27));
        assert_eq!(index.line_of("authorization.rules[1].roles[0]"), Some(28));
        assert_eq!(index.line_of("authorization.rules[1].deny"), Some(29));
    }

    #[test]
    fn quoted_keys() {
        let index = LineIndex::build(SAMPLE);
        assert_eq!(index.line_of("servers.local.env.QUOTED"), Some(20));
        assert_eq!(index.line_of("servers.local.env.single's"), Some(21));
        assert_eq!(index.line_of("rate_limits.per_tool.broadcast__*"), Some(32));
    }

    #[test]
    fn flow_content_is_not_indexed() {
        let index = LineIndex::build(SAMPLE);
        assert_eq!(
            index.line_of("rate_limits.per_tool.broadcast__*.burst"),
            None
        );
    }

    #[test]
    fn repeated_keys_keep_every_line() {
        let index = LineIndex::build("a:\n  x: 1\n  x: 2\n");
        assert_eq!(index.occurrences("a.x"), &[2, 3]);
        assert_eq!(index.occurrences("a.y"), &[] as &[usize]);
    }

    #[test]
    fn sequences_of_sequences_and_top_level_items() {
        let index = LineIndex::build("- - a\n  - b\n- c: 1\n");
        assert_eq!(index.line_of("[0]"), Some(1));
        assert_eq!(index.line_of("[0][0]"), Some(1));
        assert_eq!(index.line_of("[0][1]"), Some(2));
        assert_eq!(index.line_of("[1].c"), Some(3));
    }

    #[test]
    fn documents_markers_reset_and_crlf_is_fine() {
        let index = LineIndex::build("---\r\nservers:\r\n  a:\r\n    url: x\r\n");
        assert_eq!(index.line_of("servers.a.url"), Some(4));
    }

    #[test]
    fn urls_and_colons_in_values_are_not_keys() {
        let index = LineIndex::build("a: http://x:80/y\nb: 'c: d'\nhttp://z\n");
        assert_eq!(index.line_of("a"), Some(1));
        assert_eq!(index.line_of("b"), Some(2));
        assert_eq!(index.line_of("http"), None);
    }

    #[test]
    fn odd_text_does_not_panic() {
        for text in [
            "\"unterminated: x",
            "'open",
            "-",
            "- ",
            ":",
            " : x",
            "é: ü\n  ä: 1",
            "\t",
        ] {
            let _ = LineIndex::build(text);
        }
    }

    #[test]
    fn block_scalar_headers() {
        for header in ["|", ">", "|-", ">+", "|2", "| # note"] {
            assert!(is_block_scalar_header(header), "{header}");
        }
        for value in ["", "x", "|x", "'|'"] {
            assert!(!is_block_scalar_header(value), "{value}");
        }
    }
}
