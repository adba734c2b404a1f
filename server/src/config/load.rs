//! Reading `mcp_servers.yaml`: text → YAML → raw shapes → validated [`Config`], with every
//! problem of the file reported at once.

use std::path::Path;

use serde_yaml::Value;

use super::lines::LineIndex;
use super::model::Config;
use super::normalize::normalize;
use super::problems::{ConfigErrors, ConfigProblem, KeyPath, Problems};
use super::raw::RawConfig;
use super::validate;

/// Read and validate a configuration file. Problems name the file as `path` is written.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| {
        ConfigErrors(vec![ConfigProblem {
            file: label.clone(),
            line: None,
            server: None,
            key: String::new(),
            message: format!("cannot read the file: {}", read_error(&error)),
        }])
    })?;
    parse_str(&text, &label)
}

/// Validate a configuration given as text; `file_label` names it in problems.
pub fn parse_str(text: &str, file_label: &str) -> Result<Config, ConfigErrors> {
    let lines = LineIndex::build(text);
    let mut problems = Problems::new(file_label, &lines);
    let root = KeyPath::root();

    let mut document: Value = match serde_yaml::from_str(text) {
        Ok(document) => document,
        Err(error) => {
            syntax_problem(&error, &mut problems);
            return problems.finish(Config::default());
        }
    };
    // `<<: *anchor` merges let a file share blocks between servers.
    if let Err(error) = document.apply_merge() {
        problems.add(&root, error.to_string());
        return problems.finish(Config::default());
    }
    if !document.is_mapping() {
        problems.add(
            &root,
            "the file must be a mapping with a `servers:` key (and optionally \
             `authorization:`, `rate_limits:`, `limits:`)",
        );
        return problems.finish(Config::default());
    }
    let document = normalize(document, &root, &mut problems);
    match serde_yaml::from_value::<RawConfig>(document) {
        Ok(raw) => {
            let config = validate::config(raw, &mut problems);
            problems.finish(config)
        }
        Err(_) => {
            // Unreachable by construction (every raw field accepts any value), but never a
            // panic on input.
            problems.add(&root, "the file could not be read as a configuration");
            problems.finish(Config::default())
        }
    }
}

/// A YAML syntax error, with the line the parser reports; a repeated key points at its
/// second occurrence (the parser reports the start of the enclosing mapping).
fn syntax_problem(error: &serde_yaml::Error, problems: &mut Problems) {
    let message = error.to_string();
    if let Some((parent, key)) = duplicate_key(&message) {
        let mut path = KeyPath::root();
        for segment in parent.split('.').filter(|s| !s.is_empty()) {
            path = path.key(segment);
        }
        let path = path.key(&key);
        let line = problems
            .lines()
            .occurrences(&path.render())
            .get(1)
            .copied()
            .or_else(|| error.location().map(|l| l.line()));
        problems.add_at(line, &path, "duplicate key");
        return;
    }
    let line = error.location().map(|location| location.line());
    problems.add_at(line, &KeyPath::root(), strip_position(&message));
}

/// `servers.a: duplicate entry with key "url" at line 3 column 5` → (`servers.a`, `url`).
fn duplicate_key(message: &str) -> Option<(String, String)> {
    const MARKER: &str = "duplicate entry with key \"";
    let start = message.find(MARKER)?;
    let parent = message[..start].trim_end().trim_end_matches(':').to_owned();
    let rest = &message[start + MARKER.len()..];
    let key = rest[..rest.rfind('"')?].to_owned();
    Some((parent, key))
}

/// The line is shown on its own; the parser's ` at line 3 column 5` would repeat it.
fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(position) => {
            let rest = &message[position + " at line ".len()..];
            // Keep what follows the position (", while parsing …").
            let tail = rest.find(',').map_or("", |comma| &rest[comma..]);
            format!("{}{}", &message[..position], tail)
        }
        None => message.to_owned(),
    }
}

fn read_error(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::InvalidData => "not valid UTF-8".to_owned(),
        kind => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<ConfigProblem> {
        parse_str(text, "f.yaml").unwrap_err().0
    }

    #[test]
    fn syntax_errors_carry_their_line() {
        let found = problems("servers:\n  a:\n    args: [1\n");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, Some(4));
        // The position is in `line`, not repeated at the start of the message.
        assert!(
            found[0]
                .message
                .starts_with("did not find expected ',' or ']', while parsing"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn duplicate_keys_point_at_the_second_one() {
        let found =
            problems("servers:\n  a:\n    type: http\n    url: http://x\n    url: http://y\n");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, Some(5));
        assert_eq!(found[0].key, "servers.a.url");
        assert_eq!(found[0].server.as_deref(), Some("a"));
        assert_eq!(found[0].message, "duplicate key");
    }

    #[test]
    fn duplicate_top_level_keys() {
        let found = problems("limits: {}\nlimits: {}\n");
        assert_eq!((found[0].line, found[0].key.as_str()), (Some(2), "limits"));
    }

    #[test]
    fn duplicate_server_names() {
        let found = problems(
            "servers:\n  a: {type: http, url: 'http://x'}\n  a: {type: sse, url: 'http://y'}\n",
        );
        assert_eq!(
            (found[0].line, found[0].key.as_str()),
            (Some(3), "servers.a")
        );
    }

    #[test]
    fn not_a_mapping() {
        for text in [
            "- a\n- b\n",
            "just text\n",
            "42\n",
            "",
            "# only a comment\n",
        ] {
            let found = problems(text);
            assert_eq!(found.len(), 1, "{text:?}");
            assert!(found[0].message.contains("must be a mapping"), "{text:?}");
        }
    }

    #[test]
    fn several_documents_are_refused() {
        let found = problems("servers: {}\n---\nservers: {}\n");
        assert!(found[0].message.contains("more than one document"));
    }

    #[test]
    fn unknown_alias_is_a_problem_not_a_panic() {
        let found = problems("servers:\n  a: *nowhere\n");
        assert_eq!(found[0].line, Some(2));
    }

    #[test]
    fn merge_keys_are_applied() {
        let config = parse_str(
            "defaults: &d\n  type: http\n  timeout: 5\nservers:\n  a:\n    <<: *d\n    url: http://a\n",
            "f",
        );
        // `defaults` is not a key of the file: the anchor must live somewhere valid.
        let found = config.unwrap_err().0;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, "defaults");

        let config = parse_str(
            "servers:\n  a: &d\n    type: http\n    url: http://a\n    timeout: 5\n  b:\n    <<: *d\n    url: http://b\n",
            "f",
        )
        .unwrap();
        assert_eq!(config.servers[1].timeout, std::time::Duration::from_secs(5));
    }

    #[test]
    fn bad_merges_are_problems() {
        let found = problems("servers:\n  a:\n    <<: 5\n");
        assert!(found[0].message.contains("merging"), "{}", found[0].message);
    }

    #[test]
    fn missing_file_is_one_problem() {
        let found = load_file(Path::new("/nonexistent/mcp_servers.yaml"))
            .unwrap_err()
            .0;
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].to_string(),
            "/nonexistent/mcp_servers.yaml: cannot read the file: entity not found"
        );
    }

    #[test]
    fn file_label_is_the_path_as_given() {
        let dir = std::env::temp_dir().join(format!("mcpgw-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.yaml");
        std::fs::write(&path, "servers:\n  a:\n    type: ftp\n").unwrap();
        let found = load_file(&path).unwrap_err().0;
        assert_eq!(found[0].file, path.display().to_string());
        assert_eq!(found[0].line, Some(3));
    }

    #[test]
    fn parses_duplicate_messages() {
        assert_eq!(
            duplicate_key("servers.x: duplicate entry with key \"url\" at line 3 column 5"),
            Some(("servers.x".into(), "url".into()))
        );
        assert_eq!(
            duplicate_key("duplicate entry with key \"a\""),
            Some((String::new(), "a".into()))
        );
        assert_eq!(duplicate_key("something else"), None);
    }

    #[test]
    fn strips_positions() {
        assert_eq!(
            strip_position(
                "did not find expected ',' or ']' at line 2 column 1, while parsing a flow sequence at line 1 column 4"
            ),
            "did not find expected ',' or ']', while parsing a flow sequence at line 1 column 4"
        );
        assert_eq!(
            strip_position("unknown anchor at line 1 column 4"),
            "unknown anchor"
        );
        assert_eq!(strip_position("plain"), "plain");
    }
}
