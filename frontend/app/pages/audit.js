// Audit (admin): the records of `GET /audit` with its filters, newest first, paged by cursor;
// a live follow that adds new records as they are written; each record's full JSON; and
// whether the database's hash chain verifies.
import { api, query } from "../lib/api.js";
import { Json, Problem, StatusBadge, When } from "../lib/components.js";
import { html, useEffect, useRef, useState } from "../lib/html.js";

const STATUSES = ["success", "error", "denied", "rate_limited", "timeout", "cancelled"];
const FOLLOW_EVERY_MS = 2000;
/**
 * Follow asks again for this much before the newest record shown: records reach the
 * database a little after their timestamp (the writer batches), and one written late must
 * not fall behind the window. Records already shown are recognised by id.
 */
const FOLLOW_OVERLAP_MS = 10_000;
const EMPTY = { user: "", tool: "", server: "", status: "", since: "", until: "", limit: "50" };

export function Audit() {
  const [draft, setDraft] = useState(EMPTY);
  const [filters, setFilters] = useState(EMPTY);
  const [records, setRecords] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(true);
  const [follow, setFollow] = useState(false);
  const [open, setOpen] = useState(null);
  const newest = useRef(null);
  // Only the latest load's answer is shown: an older one arriving late is dropped.
  const latest = useRef(0);

  const load = async (more) => {
    const asked = ++latest.current;
    setLoading(true);
    try {
      const answer = await api(`/audit${query({ ...filters, cursor: more ? cursor : undefined })}`);
      if (asked !== latest.current) return;
      setRecords((shown) => (more ? [...shown, ...answer.records] : answer.records));
      setCursor(answer.next_cursor);
      if (!more) newest.current = answer.records[0]?.timestamp ?? newest.current;
      setError(null);
    } catch (e) {
      if (asked === latest.current) setError(e);
    } finally {
      if (asked === latest.current) setLoading(false);
    }
  };
  useEffect(() => {
    load(false);
  }, [filters]);

  // Follow: ask for records since the newest shown, and put the unseen ones on top.
  useEffect(() => {
    if (!follow) return undefined;
    const timer = setInterval(async () => {
      const from = newest.current ? Date.parse(newest.current) : Date.now() - 60_000;
      const since = new Date(from - FOLLOW_OVERLAP_MS).toISOString();
      try {
        const answer = await api(`/audit${query({ ...filters, since, until: "", limit: "1000" })}`);
        setRecords((shown) => {
          const seen = new Set(shown.map((r) => r.id));
          const fresh = answer.records.filter((r) => !seen.has(r.id));
          return fresh.length ? [...fresh, ...shown] : shown;
        });
        if (answer.records[0] && (!newest.current || answer.records[0].timestamp > newest.current)) {
          newest.current = answer.records[0].timestamp;
        }
        setError(null);
      } catch (e) {
        setError(e);
      }
    }, FOLLOW_EVERY_MS);
    return () => clearInterval(timer);
  }, [follow, filters]);

  const set = (name) => (e) => setDraft({ ...draft, [name]: e.currentTarget.value });
  const apply = (e) => {
    e.preventDefault();
    setFilters({ ...draft });
  };
  const text = (name, label, placeholder) => html`<div class="field">
    <label for=${`audit-${name}`}>${label}</label>
    <input id=${`audit-${name}`} value=${draft[name]} placeholder=${placeholder} onInput=${set(name)} />
  </div>`;

  return html`<h1>Audit</h1>
    <${ChainCheck} />
    <form class="filters wide" onSubmit=${apply}>
      ${text("user", "User", "testuser")}
      ${text("tool", "Tool", "prod-elk-1__search_logs")}
      ${text("server", "Server", "prod-elk-1")}
      <div class="field">
        <label for="audit-status">Status</label>
        <select id="audit-status" value=${draft.status} onChange=${set("status")}>
          <option value="">Any</option>
          ${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
        </select>
      </div>
      ${text("since", "Since", "1h or 2026-12-01T00:00:00Z")}
      ${text("until", "Until", "RFC 3339 or 15m")}
      <div class="field">
        <label for="audit-limit">Per page</label>
        <input id="audit-limit" type="number" min="1" max="1000" value=${draft.limit} onInput=${set("limit")} />
      </div>
      <div class="actions">
        <button type="submit">Apply</button>
        <label class="toggle"><input type="checkbox" checked=${follow}
          onChange=${(e) => setFollow(e.currentTarget.checked)} /> Follow live</label>
      </div>
    </form>
    ${error ? html`<${Problem} error=${error} what="the audit log" />` : null}
    <div class="table-wrap"><table data-test="audit">
      <thead><tr><th>When</th><th>Event</th><th>User</th><th>Tool</th><th>Status</th><th>ms</th><th></th></tr></thead>
      <tbody>
        ${records.map((r) => html`<${Row} key=${r.id} record=${r} open=${open === r.id}
          onToggle=${() => setOpen(open === r.id ? null : r.id)} />`)}
      </tbody>
    </table></div>
    ${!loading && records.length === 0 ? html`<p class="muted">No record matches.</p>` : null}
    ${loading ? html`<p class="muted" aria-busy="true">Loading…</p>` : null}
    ${cursor && !loading ? html`<button type="button" class="secondary" onClick=${() => load(true)}>Older records</button>` : null}`;
}

function Row({ record, open, onToggle }) {
  return html`<tr class=${open ? "open" : ""}>
      <td><${When} timestamp=${record.timestamp} /></td>
      <td>${record.event}</td>
      <td>${record.user}</td>
      <td><code>${record.tool ?? ""}</code></td>
      <td>${record.status ? html`<${StatusBadge} status=${record.status} />` : null}</td>
      <td class="number">${record.duration_ms ?? ""}</td>
      <td><button type="button" class="secondary small" aria-expanded=${open} onClick=${onToggle}>
        ${open ? "Hide" : "JSON"}</button></td>
    </tr>
    ${open ? html`<tr class="record"><td colspan="7"><${Json} value=${record} label="audit record" /></td></tr>` : null}`;
}

/** Verify the hash chain on demand (it reads every record). */
function ChainCheck() {
  const [state, setState] = useState(null);
  const verify = async () => {
    setState({ checking: true });
    try {
      setState({ report: await api("/audit/verify") });
    } catch (error) {
      setState({ error });
    }
  };
  const report = state?.report;
  return html`<div class="chain" aria-live="polite">
    <button type="button" class="secondary" onClick=${verify} disabled=${state?.checking}>
      ${state?.checking ? "Verifying…" : "Verify the hash chain"}</button>
    ${report?.intact
      ? html`<span class="badge ok" data-test="chain">Chain intact</span>
          <span class="muted"> ${report.checked} records (${report.source})</span>`
      : null}
    ${report && !report.intact
      ? html`<span class="badge bad" data-test="chain">Chain broken</span>
          <span> at record ${report.broken.position} (${report.broken.id ?? "unknown id"}): ${report.broken.reason}</span>`
      : null}
    ${state?.error ? html`<${Problem} error=${state.error} what="the chain" />` : null}
  </div>`;
}
