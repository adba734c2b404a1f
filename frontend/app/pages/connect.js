// Connect: configs to paste into MCP clients, with this gateway's public URL in them.
import { Snippet } from "../lib/components.js";
import { html } from "../lib/html.js";

/** Every client's snippet for an MCP endpoint at `mcp`. */
export function snippets(publicUrl, authEnabled) {
  const mcp = `${publicUrl}/mcp`;
  const bearer = authEnabled ? ` \\\n  --header "Authorization: Bearer $(mcpgw token)"` : "";
  const curlAuth = authEnabled ? ` \\\n  -H "Authorization: Bearer $(mcpgw token)"` : "";
  const json = (value) => JSON.stringify(value, null, 2);
  return [
    {
      client: "Claude Desktop",
      where: "claude_desktop_config.json (Settings → Developer → Edit Config); mcp-remote bridges stdio to the gateway and runs the sign-in",
      text: json({ mcpServers: { "secure-mcp-gateway": { command: "npx", args: ["-y", "mcp-remote", mcp] } } }),
    },
    {
      client: "Claude Code",
      where: "a terminal; Claude Code signs in through the browser when the gateway asks",
      text: `claude mcp add --transport http secure-mcp-gateway ${mcp}`,
    },
    {
      client: "Cursor",
      where: "~/.cursor/mcp.json, or .cursor/mcp.json in a project",
      text: json({ mcpServers: { "secure-mcp-gateway": { url: mcp } } }),
    },
    {
      client: "VS Code",
      where: ".vscode/mcp.json in a workspace (or the user's mcp.json)",
      text: json({ servers: { "secure-mcp-gateway": { type: "http", url: mcp } } }),
    },
    {
      client: "MCP Inspector",
      where: "a terminal (the CLI mode lists the tools; leave out --cli for the Inspector's UI)",
      text: `npx @modelcontextprotocol/inspector --cli ${mcp} --transport http --method tools/list${bearer}`,
    },
    {
      client: "curl",
      where: "a terminal: the REST API lists what you may call",
      text: `curl -sS ${publicUrl}/tools${curlAuth}`,
    },
  ];
}

export function Connect({ session }) {
  return html`<h1>Connect</h1>
    <p>This gateway's MCP endpoint is <code data-test="mcp-url">${session.publicUrl}/mcp</code>.
      ${session.authEnabled
        ? html` Clients sign in with your organisation's account (OAuth); scripts can use the
            token of <code>mcpgw login</code> (<code>mcpgw token</code>).`
        : " Authentication is off: clients connect without signing in."}</p>
    ${snippets(session.publicUrl, session.authEnabled).map(
      (s) => html`<section class="connect" key=${s.client}>
        <h2>${s.client}</h2>
        <p class="muted">${s.where}</p>
        <${Snippet} text=${s.text} label=${s.client} />
      </section>`,
    )}`;
}
