//! Makes a parsed YAML document fit the raw shapes before they are deserialized.
//!
//! serde's `flatten` (which collects unknown keys) refuses non-string keys and tagged values
//! for the whole mapping; rather than losing every key of a mapping to one odd entry, they
//! are dealt with here, one problem each.

use serde_yaml::{Mapping, Value};

use super::problems::{KeyPath, Problems};
use super::raw::key_text;

/// Mapping keys become text (`8080:` → `"8080"`, `true:` → `"true"`); null and composite
/// keys are problems and dropped. Tagged values (`!tag x`) are problems and replaced by the
/// value they tag, so that the value is still checked.
pub(crate) fn normalize(value: Value, path: &KeyPath, problems: &mut Problems) -> Value {
    match value {
        Value::Mapping(mapping) => Value::Mapping(normalize_mapping(mapping, path, problems)),
        Value::Sequence(items) => Value::Sequence(
            items
                .into_iter()
                .enumerate()
                .map(|(index, item)| normalize(item, &path.index(index), problems))
                .collect(),
        ),
        Value::Tagged(tagged) => {
            problems.add(
                path,
                format!("YAML tags ({}) are not supported here", tagged.tag),
            );
            normalize(tagged.value, path, problems)
        }
        scalar => scalar,
    }
}

fn normalize_mapping(mapping: Mapping, path: &KeyPath, problems: &mut Problems) -> Mapping {
    let mut normalized = Mapping::with_capacity(mapping.len());
    for (key, value) in mapping {
        let key = match key {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => key_text(&key),
            other => {
                problems.add(
                    path,
                    format!("a key must be plain text, found {}", describe_key(&other)),
                );
                continue;
            }
        };
        let child = path.key(&key);
        let value = normalize(value, &child, problems);
        // `1:` and `"1":` are different YAML keys but the same text.
        if normalized.insert(Value::String(key), value).is_some() {
            problems.add(&child, "duplicate key");
        }
    }
    normalized
}

fn describe_key(key: &Value) -> &'static str {
    match key {
        Value::Null => "an empty key",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
        Value::String(_) | Value::Number(_) | Value::Bool(_) => "a scalar",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lines::LineIndex;

    fn run(text: &str) -> (Value, Vec<String>) {
        let lines = LineIndex::build(text);
        let mut problems = Problems::new("f", &lines);
        let value = serde_yaml::from_str(text).unwrap();
        let value = normalize(value, &KeyPath::root(), &mut problems);
        let messages = match problems.finish(()) {
            Ok(()) => vec![],
            Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
        };
        (value, messages)
    }

    #[test]
    fn scalar_keys_become_text() {
        let (value, problems) = run("a:\n  8080: x\n  true: y\n  1.5: z\n");
        assert!(problems.is_empty(), "{problems:?}");
        let inner = value.get("a").unwrap().as_mapping().unwrap();
        let keys: Vec<_> = inner.keys().map(|k| k.as_str().unwrap()).collect();
        assert_eq!(keys, ["8080", "true", "1.5"]);
    }

    #[test]
    fn odd_keys_are_problems_and_dropped() {
        let (value, problems) = run("a:\n  ~: x\n  [1]: y\n  ok: z\n");
        assert_eq!(value.get("a").unwrap().as_mapping().unwrap().len(), 1);
        assert_eq!(problems.len(), 2);
        assert!(
            problems[0].starts_with("f:1: a: a key must be plain text"),
            "{problems:?}"
        );
    }

    #[test]
    fn tags_are_problems_and_unwrapped() {
        let (value, problems) = run("servers:\n  s:\n    timeout: !secs 5\n");
        assert_eq!(
            problems,
            ["f:3: server 's': servers.s.timeout: YAML tags (!secs) are not supported here"]
        );
        let timeout = value
            .get("servers")
            .and_then(|v| v.get("s"))
            .and_then(|v| v.get("timeout"));
        assert_eq!(timeout, Some(&Value::from(5)));
    }

    #[test]
    fn keys_that_collide_as_text() {
        let (_, problems) = run("a:\n  1: x\n  \"1\": y\n");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].ends_with("a.1: duplicate key"), "{problems:?}");
    }

    #[test]
    fn tags_inside_lists() {
        let (_, problems) = run("l: [a, !t b]\n");
        assert_eq!(
            problems,
            ["f:1: l[1]: YAML tags (!t) are not supported here"]
        );
    }
}
