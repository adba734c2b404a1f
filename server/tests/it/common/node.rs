//! MCP peers from npm, installed by `make test-deps` into testdeps/node_modules and run with
//! the machine's `node`.

use std::path::PathBuf;

use super::workspace_root;

/// The entry point `path` (under testdeps/node_modules); tests fail with a clear message
/// when it is missing.
fn installed(path: &str) -> (String, PathBuf) {
    let entry = workspace_root().join("testdeps/node_modules").join(path);
    assert!(
        entry.exists(),
        "{} is missing: run `make test-deps` (make test does)",
        entry.display()
    );
    ("node".to_owned(), entry)
}

/// `@modelcontextprotocol/server-everything` (a backend: `node <entry> stdio`).
pub fn server_everything() -> (String, PathBuf) {
    installed("@modelcontextprotocol/server-everything/dist/index.js")
}

/// The MCP Inspector's launcher (`@modelcontextprotocol/inspector`; a client:
/// `node <launcher> --cli …`).
pub fn inspector() -> (String, PathBuf) {
    installed("@modelcontextprotocol/inspector/clients/launcher/build/index.js")
}
