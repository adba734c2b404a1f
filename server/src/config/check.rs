//! A config file checked offline, as `mcp-gateway check-config FILE` and
//! `mcpgw config validate FILE` both print it (one implementation for both).

use std::io::Write;
use std::path::Path;

use super::{Config, load_file};

/// Print `FILE: OK (N servers: a, b)` on `out` and return 0, or every problem on `err`
/// (one per line) and return 1: the exit code of both commands.
pub fn check_file(file: &Path, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match load_file(file) {
        Ok(config) => {
            let written = writeln!(out, "{}", summary(&file.display().to_string(), &config));
            u8::from(written.is_err())
        }
        Err(errors) => {
            for problem in &errors.0 {
                // Nothing more useful to do when stderr itself is gone.
                let _ = writeln!(err, "{problem}");
            }
            1
        }
    }
}

fn summary(file: &str, config: &Config) -> String {
    let names: Vec<&str> = config
        .servers
        .iter()
        .map(|server| server.name.as_str())
        .collect();
    match names.len() {
        0 => format!("{file}: OK (0 servers)"),
        1 => format!("{file}: OK (1 server: {})", names[0]),
        count => format!("{file}: OK ({count} servers: {})", names.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn temp_file(name: &str, contents: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mcpgw-validate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn validate(path: &Path) -> (u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = check_file(path, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn a_valid_file_prints_one_line_with_the_servers_in_name_order() {
        let path = temp_file(
            "ok.yaml",
            "servers:\n  zeta: {type: http, url: 'http://z'}\n  alpha: {type: stdio, command: x}\n",
        );
        let (code, out, err) = validate(&path);
        assert_eq!(code, 0);
        assert_eq!(
            out,
            format!("{}: OK (2 servers: alpha, zeta)\n", path.display())
        );
        assert!(err.is_empty());
    }

    #[test]
    fn counts_read_naturally() {
        let one = temp_file("one.yaml", "servers:\n  a: {type: http, url: 'http://a'}\n");
        assert!(validate(&one).1.ends_with(": OK (1 server: a)\n"));
        let none = temp_file("none.yaml", "servers: {}\n");
        assert!(validate(&none).1.ends_with(": OK (0 servers)\n"));
    }

    #[test]
    fn an_invalid_file_prints_every_problem_on_stderr() {
        let path = temp_file(
            "bad.yaml",
            "servers:\n  a:\n    type: http\n  b:\n    type: stdio\n    command: x\n    timeout: 0\n",
        );
        let (code, out, err) = validate(&path);
        assert_eq!(code, 1);
        assert!(out.is_empty());
        let lines: Vec<_> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{err}");
        assert_eq!(
            lines[0],
            format!(
                "{}:2: server 'a': servers.a.url: is required for type http",
                path.display()
            )
        );
        assert!(
            lines[1].contains(":7: server 'b': servers.b.timeout: "),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn a_missing_file_is_one_problem() {
        let (code, out, err) = validate(Path::new("/nonexistent/mcp_servers.yaml"));
        assert_eq!(code, 1);
        assert!(out.is_empty());
        assert_eq!(
            err,
            "/nonexistent/mcp_servers.yaml: cannot read the file: entity not found\n"
        );
    }

    #[test]
    fn the_complete_example_validates() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/mcp_servers_complete.yaml"
        ));
        let (code, out, err) = validate(path);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(": OK ("), "{out}");
    }
}
