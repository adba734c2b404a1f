// Servers: every server this caller may see, and one server's page with its tools and the
// server information its backend gave at initialize.
import { HealthBadge, Json, Pending, useApi } from "../lib/components.js";
import { html } from "../lib/html.js";
import { href } from "../lib/router.js";

export function Servers() {
  const servers = useApi("/mcp/servers");
  return html`<h1>Servers</h1>
    ${servers.data
      ? html`<div class="table-wrap"><table data-test="servers">
          <thead><tr><th>Name</th><th>Type</th><th>Tags</th><th>Health</th><th>Tools</th><th>Last error</th></tr></thead>
          <tbody>
            ${servers.data.servers.map((s) => html`<tr key=${s.name}>
              <td><a href=${href("servers", s.name)}>${s.name}</a>
                ${s.description ? html`<div class="muted small">${s.description}</div>` : null}</td>
              <td>${s.type}</td>
              <td><${Tags} tags=${s.tags} /></td>
              <td><${HealthBadge} healthy=${s.healthy} enabled=${s.enabled} /></td>
              <td class="number">${s.tool_count}</td>
              <td class="wrap">${s.last_error ?? ""}</td>
            </tr>`)}
          </tbody>
        </table></div>
        ${servers.data.servers.length === 0 ? html`<p class="muted">No server is visible to you.</p>` : null}`
      : html`<${Pending} state=${servers} what="servers" />`}`;
}

export function Tags({ tags }) {
  return (tags ?? []).map((tag) => html`<span class="tag" key=${tag}>${tag}</span>`);
}

export function Server({ name }) {
  const info = useApi(`/mcp/server/${encodeURIComponent(name)}/info`);
  if (!info.data) {
    return html`<h1>${name}</h1><${Pending} state=${info} what=${`server ${name}`} />`;
  }
  const s = info.data;
  return html`<p class="crumbs"><a href=${href("servers")}>Servers</a> /</p>
    <h1>${s.name}</h1>
    ${s.description ? html`<p>${s.description}</p>` : null}
    <dl class="facts">
      <dt>Type</dt><dd>${s.type}</dd>
      <dt>Health</dt><dd><${HealthBadge} healthy=${s.healthy} enabled=${s.enabled} /></dd>
      <dt>Tags</dt><dd><${Tags} tags=${s.tags} /></dd>
      <dt>Tools</dt><dd>${s.tool_count}</dd>
      ${s.last_error ? html`<dt>Last error</dt><dd class="wrap">${s.last_error}</dd>` : null}
    </dl>
    <h2>Tools</h2>
    ${(s.tools ?? []).length === 0
      ? html`<p class="muted">No tools.</p>`
      : html`<div class="table-wrap"><table>
          <thead><tr><th>Name</th><th>Description</th></tr></thead>
          <tbody>
            ${s.tools.map((t) => html`<tr key=${t.exposed_name ?? t.name}>
              <td>${t.exposed_name
                ? html`<a href=${href("tools", t.exposed_name)}><code>${t.exposed_name}</code></a>`
                : html`<code>${t.name}</code>`}</td>
              <td class="wrap">${t.description ?? ""}</td>
            </tr>`)}
          </tbody>
        </table></div>`}
    <h2>Server information</h2>
    ${s.server_info ? html`<${Json} value=${s.server_info} label="server information" />` : html`<p class="muted">Not known yet (the backend has not completed initialize).</p>`}`;
}
