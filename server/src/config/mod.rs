//! Validated gateway configuration: `mcp_servers.yaml` and the environment.
