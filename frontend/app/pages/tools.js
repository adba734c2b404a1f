// Tools: find a tool (search by name or description, filter by server and tag), fill in the
// form its input schema gives, call it, and read the result — for a broadcast, one row per
// server. The same call can be copied as a `curl` or `mcpgw` command.
import { ApiError, api } from "../lib/api.js";
import { curlOf, mcpgwOf } from "../lib/commands.js";
import { CopyButton, Json, Pending, useApi } from "../lib/components.js";
import { html, useEffect, useMemo, useState } from "../lib/html.js";
import { href } from "../lib/router.js";
import { SchemaFields, argumentsOf, fieldsOf, initialValues } from "../lib/schema-form.js";

const BROADCAST = "broadcast__";
const TAG_BROADCAST = "broadcast__by_tag__";

/** The name of the broadcast tool of a tag (the gateway writes a tag in `[A-Za-z0-9_]`). */
function tagBroadcast(tag) {
  return TAG_BROADCAST + tag.replace(/[^A-Za-z0-9_]/g, "_");
}

/** Which server each exposed tool name belongs to, from every visible server's info. */
function useToolServers(servers) {
  const [owners, setOwners] = useState(null);
  useEffect(() => {
    if (!servers) return undefined;
    let live = true;
    Promise.all(
      servers.map((s) =>
        api(`/mcp/server/${encodeURIComponent(s.name)}/info`).then(
          (info) => info.tools ?? [],
          () => [],
        ),
      ),
    ).then((lists) => {
      if (!live) return;
      const map = new Map();
      lists.forEach((tools, i) => {
        for (const tool of tools) if (tool.exposed_name) map.set(tool.exposed_name, servers[i]);
      });
      setOwners(map);
    });
    return () => {
      live = false;
    };
  }, [servers]);
  return owners;
}

export function Tools({ session, selected }) {
  const tools = useApi("/tools");
  const servers = useApi("/mcp/servers");
  const owners = useToolServers(servers.data?.servers ?? null);
  const [search, setSearch] = useState("");
  const [server, setServer] = useState("");
  const [tag, setTag] = useState("");

  const tags = useMemo(
    () => [...new Set((servers.data?.servers ?? []).flatMap((s) => s.tags ?? []))].sort(),
    [servers.data],
  );
  const shown = useMemo(() => {
    const needle = search.trim().toLowerCase();
    return (tools.data?.tools ?? []).filter((tool) => {
      if (needle && !`${tool.name}\n${tool.description ?? ""}`.toLowerCase().includes(needle)) {
        return false;
      }
      const owner = owners?.get(tool.name);
      const broadcast = tool.name.startsWith(BROADCAST);
      if (server === BROADCAST && !broadcast) return false;
      if (server && server !== BROADCAST && owner?.name !== server) return false;
      // A tag keeps its servers' tools and its own broadcast tool.
      if (tag) {
        const tagged = broadcast ? tool.name === tagBroadcast(tag) : (owner?.tags ?? []).includes(tag);
        if (!tagged) return false;
      }
      return true;
    });
  }, [tools.data, owners, search, server, tag]);

  if (!tools.data) return html`<h1>Tools</h1><${Pending} state=${tools} what="tools" />`;
  const chosen = selected ? tools.data.tools.find((t) => t.name === selected) : null;

  return html`<h1>Tools</h1>
    <div class="split">
      <aside class="finder">
        <div class="filters">
          <div class="field">
            <label for="tool-search">Search</label>
            <input id="tool-search" type="search" placeholder="name or description" value=${search}
              onInput=${(e) => setSearch(e.currentTarget.value)} />
          </div>
          <div class="pair">
          <div class="field">
            <label for="tool-server">Server</label>
            <select id="tool-server" value=${server} onChange=${(e) => setServer(e.currentTarget.value)}>
              <option value="">All servers</option>
              ${(servers.data?.servers ?? []).map((s) => html`<option value=${s.name}>${s.name}</option>`)}
              <option value=${BROADCAST}>Broadcasts</option>
            </select>
          </div>
          <div class="field">
            <label for="tool-tag">Tag</label>
            <select id="tool-tag" value=${tag} onChange=${(e) => setTag(e.currentTarget.value)}>
              <option value="">All tags</option>
              ${tags.map((t) => html`<option value=${t}>${t}</option>`)}
            </select>
          </div>
          </div>
        </div>
        <p class="muted small" aria-live="polite">${shown.length} of ${tools.data.tools.length} tools</p>
        <ul class="tool-list" data-test="tool-list">
          ${shown.map((tool) => html`<li key=${tool.name}>
            <a href=${href("tools", tool.name)} aria-current=${tool.name === selected ? "page" : undefined}>
              <code>${tool.name}</code>
              <span class="muted small">${firstLine(tool.description)}</span>
            </a>
          </li>`)}
        </ul>
      </aside>
      <section class="detail">
        ${chosen
          ? html`<${ToolDetail} key=${chosen.name} tool=${chosen} session=${session}
              owner=${owners?.get(chosen.name)} />`
          : selected
            ? html`<p class="problem-box" role="alert">No tool <code>${selected}</code> is visible to you.</p>`
            : html`<p class="muted">Choose a tool to see its form.</p>`}
      </section>
    </div>`;
}

function firstLine(text) {
  const line = (text ?? "").split("\n")[0];
  return line.length > 120 ? `${line.slice(0, 117)}…` : line;
}

function ToolDetail({ tool, session, owner }) {
  const fields = useMemo(() => fieldsOf(tool.inputSchema), [tool]);
  const [values, setValues] = useState(() => initialValues(fields));
  const [touched, setTouched] = useState({});
  const [problems, setProblems] = useState({});
  const [outcome, setOutcome] = useState(null);
  const [calling, setCalling] = useState(false);
  const prepared = argumentsOf(fields, values, touched);

  const change = (name, value) => {
    setValues((v) => ({ ...v, [name]: value }));
    setTouched((t) => ({ ...t, [name]: true }));
    setProblems((p) => ({ ...p, [name]: undefined }));
  };

  const call = async (event) => {
    event.preventDefault();
    const { arguments: args, problems: found } = argumentsOf(fields, values, touched);
    setProblems(found);
    if (Object.keys(found).length) return;
    setCalling(true);
    const started = performance.now();
    try {
      const result = await api(`/tools/${encodeURIComponent(tool.name)}/invoke`, {
        method: "POST",
        body: args,
      });
      setOutcome({ result, ms: Math.round(performance.now() - started) });
    } catch (error) {
      setOutcome({ error, ms: Math.round(performance.now() - started) });
    } finally {
      setCalling(false);
    }
  };

  return html`<h2 class="tool-name"><code>${tool.name}</code></h2>
    ${owner ? html`<p class="muted">on <a href=${href("servers", owner.name)}>${owner.name}</a></p>` : null}
    ${tool.description ? html`<p class="description">${tool.description}</p>` : null}
    <form class="tool-form" onSubmit=${call} noValidate>
      <${SchemaFields} fields=${fields} values=${values} problems=${problems} prefix="arg"
        onChange=${change} />
      <div class="actions">
        <button type="submit" disabled=${calling}>${calling ? "Calling…" : "Call"}</button>
        <${CopyButton} label="Copy as curl" text=${curlOf(session, tool.name, prepared.arguments)} />
        <${CopyButton} label="Copy as mcpgw" text=${mcpgwOf(session, tool.name, prepared.arguments)} />
      </div>
      <details class="commands">
        <summary>The same call from a terminal</summary>
        <pre data-test="curl">${curlOf(session, tool.name, prepared.arguments)}</pre>
        <pre data-test="mcpgw">${mcpgwOf(session, tool.name, prepared.arguments)}</pre>
      </details>
    </form>
    <div aria-live="polite">${outcome ? html`<${Outcome} outcome=${outcome} />` : null}</div>`;
}


function Outcome({ outcome }) {
  if (outcome.error) {
    const e = outcome.error;
    return html`<div class="result failed" data-test="result">
      <p><span class="badge bad">${e instanceof ApiError ? `HTTP ${e.status}` : "failed"}</span>
        ${" "}${e.message}</p>
    </div>`;
  }
  const result = outcome.result;
  const broadcast = result?.structuredContent;
  if (broadcast && typeof broadcast.total_servers === "number" && broadcast.results) {
    return html`<${BroadcastOutcome} result=${result} summary=${broadcast} ms=${outcome.ms} />`;
  }
  return html`<div class=${`result ${result?.isError ? "failed" : ""}`} data-test="result">
    <p>
      ${result?.isError
        ? html`<span class="badge bad" data-test="outcome">Tool error</span> The tool ran and reported an error.`
        : html`<span class="badge ok" data-test="outcome">Success</span>`}
      <span class="muted"> in ${outcome.ms} ms</span>
    </p>
    ${(result?.content ?? []).map((item, i) => html`<${ContentItem} key=${i} item=${item} />`)}
    ${result?.structuredContent !== undefined
      ? html`<details><summary>Structured content</summary><${Json} value=${result.structuredContent} /></details>`
      : null}
  </div>`;
}

function ContentItem({ item }) {
  if (item.type === "text") {
    try {
      const parsed = JSON.parse(item.text);
      if (parsed !== null && typeof parsed === "object") return html`<${Json} value=${parsed} label="result" />`;
    } catch {
      // plain text
    }
    return html`<pre class="text">${item.text}</pre>`;
  }
  if (item.type === "image" && /^image\/(png|jpeg|gif|webp)$/.test(item.mimeType ?? "")) {
    return html`<img class="result-image" alt="image result" src=${`data:${item.mimeType};base64,${item.data}`} />`;
  }
  return html`<${Json} value=${item} label=${`${item.type} result`} />`;
}

/** A broadcast: one row per server with its result or error and its time. */
function BroadcastOutcome({ result, summary, ms }) {
  const servers = [
    ...new Set([
      ...Object.keys(summary.durations_ms ?? {}),
      ...Object.keys(summary.results ?? {}),
      ...Object.keys(summary.errors ?? {}),
    ]),
  ].sort();
  const failedCall = (server) => summary.call_results?.[server]?.isError === true;
  return html`<div class=${`result ${result.isError ? "failed" : ""}`} data-test="result">
    <p>
      <span class=${`badge ${summary.failed === 0 ? "ok" : summary.successful === 0 ? "bad" : "warn"}`}>
        ${summary.successful} of ${summary.total_servers} succeeded
      </span>
      <span class="muted"> in ${summary.execution_time_ms ?? ms} ms</span>
    </p>
    <div class="table-wrap"><table data-test="broadcast-results">
      <thead><tr><th>Server</th><th>Outcome</th><th>Time</th><th>Result or error</th></tr></thead>
      <tbody>
        ${servers.map((server) => {
          const error = summary.errors?.[server];
          const ok = error === undefined && !failedCall(server);
          return html`<tr key=${server} data-server=${server}>
            <th scope="row">${server}</th>
            <td>${ok ? html`<span class="badge ok">ok</span>` : html`<span class="badge bad">error</span>`}</td>
            <td class="number">${summary.durations_ms?.[server] !== undefined ? `${summary.durations_ms[server]} ms` : "—"}</td>
            <td class="wrap"><pre class="text">${error ?? display(summary.results?.[server])}</pre></td>
          </tr>`;
        })}
      </tbody>
    </table></div>
  </div>`;
}

function display(value) {
  if (value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}
