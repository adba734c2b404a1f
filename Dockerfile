# syntax=docker/dockerfile:1
# The Secure MCP Gateway image: mcp-gateway, mcpgw and the mock MCP server of the demo stack,
# built in release mode and run as a non-root user on a small Debian runtime.
#
#   docker build -t secure-mcp-gateway .            (make builds it through docker compose)
#
# Stages: `deps` compiles every dependency from the manifests alone, so that a change to the
# sources rebuilds only the workspace's own crates; `build` compiles them; `runtime` is the
# image that ships.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS deps
WORKDIR /src
# The manifests and lock file only, with empty crate roots: this layer is rebuilt only when
# a dependency changes.
COPY Cargo.toml Cargo.lock ./
COPY server/Cargo.toml server/Cargo.toml
COPY cli/Cargo.toml cli/Cargo.toml
COPY examples/mock-mcp-server/Cargo.toml examples/mock-mcp-server/Cargo.toml
COPY bench/Cargo.toml bench/Cargo.toml
RUN for crate in server cli examples/mock-mcp-server bench; do \
      mkdir -p "$crate/src" && echo 'fn main() {}' > "$crate/src/main.rs"; \
    done \
 && touch server/src/lib.rs \
 && cargo build --release --locked -p mcp-gateway -p mcpgw -p mock-mcp-server \
 && rm -rf server/src cli/src examples/mock-mcp-server/src bench/src

FROM deps AS build
COPY server server
COPY cli cli
COPY examples/mock-mcp-server examples/mock-mcp-server
COPY bench bench
COPY migrations migrations
# The web console's files are compiled into the gateway binary.
COPY frontend/app frontend/app
# The empty crate roots of `deps` are older than the sources: cargo rebuilds the workspace.
RUN touch server/src/main.rs server/src/lib.rs cli/src/main.rs examples/mock-mcp-server/src/main.rs \
 && cargo build --release --locked -p mcp-gateway -p mcpgw -p mock-mcp-server \
 && install -D -m 0755 -t /out target/release/mcp-gateway target/release/mcpgw target/release/mock-mcp-server

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# CA certificates for https:// backends and issuers; nothing else is needed at run time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/mcp-gateway --create-home gateway
COPY --from=build /out/ /usr/local/bin/
COPY examples/mcp_servers.yaml /etc/mcp-gateway/mcp_servers.yaml
USER 10001:10001
WORKDIR /var/lib/mcp-gateway
ENV GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8000 \
    MCP_SERVERS_CONFIG=/etc/mcp-gateway/mcp_servers.yaml \
    LOG_FORMAT=json \
    AUDIT_LOG_FILE=/var/lib/mcp-gateway/audit.json
EXPOSE 8000
# The gateway's own CLI asks its open /health: no curl in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["mcpgw", "--url", "http://127.0.0.1:8000", "health"]
ENTRYPOINT ["mcp-gateway"]
