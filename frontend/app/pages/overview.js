// Overview: the gateway's health, its servers, and for admins the last hour from the audit
// log (calls, recent errors and denials).
import { api } from "../lib/api.js";
import { Pending, StatusBadge, When, useApi } from "../lib/components.js";
import { html, useEffect, useState } from "../lib/html.js";
import { href } from "../lib/router.js";

/** Pages of the audit log read to count an hour's calls, at most (1,000 records each). */
const COUNT_PAGES = 5;

export function Overview({ session }) {
  const health = useApi("/health");
  const servers = useApi("/mcp/servers");
  const tools = useApi("/tools");
  return html`<h1>Overview</h1>
    <section class="cards">
      <div class="card">
        <h2>Gateway</h2>
        ${health.data
          ? html`<p class="figure">${health.data.status === "ok" ? "Serving" : health.data.status}</p>
              <p class="muted">version ${session.version}</p>`
          : html`<${Pending} state=${health} what="health" />`}
      </div>
      <div class="card">
        <h2>Servers healthy</h2>
        ${health.data
          ? html`<p class="figure"><span data-test="healthy">${health.data.servers.healthy}</span>${" / "}<span
                data-test="total">${health.data.servers.total}</span></p>
              <p><a href=${href("servers")}>See servers</a></p>`
          : html`<${Pending} state=${health} what="health" />`}
      </div>
      <div class="card">
        <h2>Your tools</h2>
        ${tools.data
          ? html`<p class="figure">${tools.data.tools.length}</p><p><a href=${href("tools")}>Try a tool</a></p>`
          : html`<${Pending} state=${tools} what="tools" />`}
      </div>
      ${session.admin ? html`<${CallsLastHour} />` : null}
    </section>
    ${servers.data ? html`<${DownServers} servers=${servers.data.servers} />` : null}
    ${session.admin ? html`<${RecentTrouble} />` : null}`;
}

function DownServers({ servers }) {
  const down = servers.filter((s) => s.enabled && !s.healthy);
  if (down.length === 0) return null;
  return html`<section>
    <h2>Servers down</h2>
    <ul class="plain">
      ${down.map((s) => html`<li key=${s.name}>
        <a href=${href("servers", s.name)}>${s.name}</a>
        ${s.last_error ? html` — <span class="muted">${s.last_error}</span>` : null}
      </li>`)}
    </ul>
  </section>`;
}

/** Tool calls recorded in the last hour (broadcast targets each count). */
function CallsLastHour() {
  const [count, setCount] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    (async () => {
      let total = 0;
      let cursor = null;
      for (let page = 0; page < COUNT_PAGES; page++) {
        const params = new URLSearchParams({ since: "1h", limit: "1000" });
        if (cursor) params.set("cursor", cursor);
        const answer = await api(`/audit?${params}`);
        total += answer.records.filter((r) => r.event === "tool_call").length;
        cursor = answer.next_cursor;
        if (!cursor) return { total, more: false };
      }
      return { total, more: true };
    })().then(
      (result) => live && setCount(result),
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, []);
  return html`<div class="card">
    <h2>Calls, last hour</h2>
    ${count
      ? html`<p class="figure" data-test="calls-last-hour">${count.total}${count.more ? "+" : ""}</p>
          <p><a href=${href("audit")}>Open the audit log</a></p>`
      : html`<${Pending} state=${{ error }} what="the audit log" />`}
  </div>`;
}

/** The latest errors and denials, newest first. */
function RecentTrouble() {
  const errors = useApi("/audit?status=error&limit=10");
  const denied = useApi("/audit?status=denied&limit=10");
  if (!errors.data || !denied.data) {
    return html`<section><h2>Recent errors and denials</h2>
      <${Pending} state=${errors.error ? errors : denied} what="the audit log" /></section>`;
  }
  const records = [...errors.data.records, ...denied.data.records]
    .sort((a, b) => (a.timestamp < b.timestamp ? 1 : -1))
    .slice(0, 10);
  return html`<section>
    <h2>Recent errors and denials</h2>
    ${records.length === 0
      ? html`<p class="muted">None recorded.</p>`
      : html`<div class="table-wrap"><table>
          <thead><tr><th>When</th><th>User</th><th>Tool</th><th>Status</th><th>Why</th></tr></thead>
          <tbody>
            ${records.map((r) => html`<tr key=${r.id}>
              <td><${When} timestamp=${r.timestamp} /></td>
              <td>${r.user}</td>
              <td><code>${r.tool ?? r.event}</code></td>
              <td><${StatusBadge} status=${r.status} /></td>
              <td class="wrap">${r.error ?? ""}</td>
            </tr>`)}
          </tbody>
        </table></div>`}
  </section>`;
}
