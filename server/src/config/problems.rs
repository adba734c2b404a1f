//! Configuration problems: what is wrong, where (file, line, server, key), all at once.

use std::fmt;

use super::lines::LineIndex;

/// One thing wrong with a configuration. Its text never contains a configured value that
/// could be a secret: it names the key and says what is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file as given (`mcp_servers.yaml`), or `environment` for variables.
    pub file: String,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// The server the problem belongs to, if any.
    pub server: Option<String>,
    /// Dotted path of the key (`servers.prod-elk-1.auth.credential_ref`, `rules[0].roles`),
    /// or the variable name; empty for problems of the whole file.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(server) = &self.server {
            write!(f, ": server '{server}'")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found, in file order. Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// One step of a [`KeyPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// Where a value sits in the file: `servers.a.args[2]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Segment>);

impl KeyPath {
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }

    pub fn key(&self, key: &str) -> Self {
        self.with(Segment::Key(key.to_owned()))
    }

    pub fn index(&self, index: usize) -> Self {
        self.with(Segment::Index(index))
    }

    fn with(&self, segment: Segment) -> Self {
        let mut segments = self.0.clone();
        segments.push(segment);
        KeyPath(segments)
    }

    /// The server a path lies under (`servers.<name>…`).
    pub fn server(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Segment::Key(servers), Segment::Key(name), ..] if servers == "servers" => Some(name),
            _ => None,
        }
    }

    pub fn render(&self) -> String {
        render(&self.0)
    }

    /// This path, then each of its ancestors, rendered (for the line lookup).
    pub fn self_and_ancestors(&self) -> impl Iterator<Item = String> + '_ {
        (1..=self.0.len()).rev().map(|len| render(&self.0[..len]))
    }
}

pub(crate) fn render(segments: &[Segment]) -> String {
    let mut text = String::new();
    for segment in segments {
        match segment {
            Segment::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Segment::Index(index) => {
                text.push('[');
                text.push_str(&index.to_string());
                text.push(']');
            }
        }
    }
    text
}

/// Collects problems while a file is checked.
pub(crate) struct Problems<'a> {
    file: &'a str,
    lines: &'a LineIndex,
    found: Vec<ConfigProblem>,
}

impl<'a> Problems<'a> {
    pub fn new(file: &'a str, lines: &'a LineIndex) -> Self {
        Problems {
            file,
            lines,
            found: Vec::new(),
        }
    }

    /// A problem with the value at `path`; the line is that of the key, or of its nearest
    /// ancestor found in the text (a missing key points at its parent).
    pub fn add(&mut self, path: &KeyPath, message: impl Into<String>) {
        let line = path
            .self_and_ancestors()
            .find_map(|rendered| self.lines.line_of(&rendered));
        self.push(line, path, message);
    }

    /// A problem at a known line.
    pub fn add_at(&mut self, line: Option<usize>, path: &KeyPath, message: impl Into<String>) {
        self.push(line, path, message);
    }

    fn push(&mut self, line: Option<usize>, path: &KeyPath, message: impl Into<String>) {
        self.found.push(ConfigProblem {
            file: self.file.to_owned(),
            line,
            server: path.server().map(str::to_owned),
            key: path.render(),
            message: message.into(),
        });
    }

    pub fn count(&self) -> usize {
        self.found.len()
    }

    pub fn lines(&self) -> &LineIndex {
        self.lines
    }

    /// `value` when nothing was found, else every problem in line order (problems without a
    /// line last; otherwise in the order found).
    pub fn finish<T>(mut self, value: T) -> Result<T, ConfigErrors> {
        if self.found.is_empty() {
            return Ok(value);
        }
        self.found
            .sort_by_key(|problem| problem.line.unwrap_or(usize::MAX));
        Err(ConfigErrors(self.found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(line: Option<usize>, server: Option<&str>, key: &str) -> ConfigProblem {
        ConfigProblem {
            file: "mcp_servers.yaml".into(),
            line,
            server: server.map(Into::into),
            key: key.into(),
            message: "must be a positive number of seconds".into(),
        }
    }

    #[test]
    fn display_has_every_known_part() {
        let full = problem(Some(12), Some("prod-elk-1"), "servers.prod-elk-1.timeout");
        assert_eq!(
            full.to_string(),
            "mcp_servers.yaml:12: server 'prod-elk-1': servers.prod-elk-1.timeout: \
             must be a positive number of seconds"
        );
    }

    #[test]
    fn display_omits_unknown_parts() {
        assert_eq!(
            problem(None, None, "limits.x").to_string(),
            "mcp_servers.yaml: limits.x: must be a positive number of seconds"
        );
        assert_eq!(
            problem(Some(1), None, "").to_string(),
            "mcp_servers.yaml:1: must be a positive number of seconds"
        );
    }

    #[test]
    fn errors_display_one_per_line() {
        let errors = ConfigErrors(vec![
            problem(Some(1), None, "a"),
            problem(Some(2), None, "b"),
        ]);
        let text = errors.to_string();
        assert_eq!(text.lines().count(), 2);
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .starts_with("mcp_servers.yaml:2: b:")
        );
    }

    #[test]
    fn paths_render_dotted_with_indexes() {
        let path = KeyPath::root()
            .key("authorization")
            .key("rules")
            .index(2)
            .key("roles");
        assert_eq!(path.render(), "authorization.rules[2].roles");
        assert_eq!(path.server(), None);
        let ancestors: Vec<_> = path.self_and_ancestors().collect();
        assert_eq!(
            ancestors,
            [
                "authorization.rules[2].roles",
                "authorization.rules[2]",
                "authorization.rules",
                "authorization"
            ]
        );
    }

    #[test]
    fn server_of_a_path() {
        let path = KeyPath::root().key("servers").key("elk").key("auth");
        assert_eq!(path.server(), Some("elk"));
        assert_eq!(KeyPath::root().key("servers").server(), None);
        assert_eq!(KeyPath::root().key("limits").key("x").server(), None);
    }

    #[test]
    fn problems_take_the_line_of_the_key_or_its_parent_and_sort_by_line() {
        let lines = LineIndex::build("servers:\n  a:\n    timeout: -1\nlimits:\n  x: 1\n");
        let mut problems = Problems::new("f.yaml", &lines);
        let server = KeyPath::root().key("servers").key("a");
        problems.add(&KeyPath::root().key("limits").key("x"), "late");
        problems.add(&server.key("timeout"), "bad");
        problems.add(&server.key("url"), "missing");
        problems.add_at(None, &KeyPath::root(), "no line");
        assert_eq!(problems.count(), 4);
        let ConfigErrors(found) = problems.finish(()).unwrap_err();
        let summary: Vec<_> = found
            .iter()
            .map(|p| (p.line, p.server.as_deref(), p.message.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (Some(2), Some("a"), "missing"),
                (Some(3), Some("a"), "bad"),
                (Some(5), None, "late"),
                (None, None, "no line"),
            ]
        );
    }

    #[test]
    fn no_problems_is_ok() {
        let lines = LineIndex::build("");
        assert_eq!(Problems::new("f", &lines).finish(7), Ok(7));
    }
}
