// Pieces every page uses: loading data from the API, showing an error, JSON, a copy button.
import { api } from "./api.js";
import { html, useCallback, useEffect, useState } from "./html.js";

/**
 * Load `path` from the API (re-loading when it changes): `{data, error, loading, reload}`.
 * A null path loads nothing.
 */
export function useApi(path) {
  const [state, setState] = useState({ data: null, error: null, loading: path !== null });
  const load = useCallback(() => {
    if (path === null) return () => {};
    let live = true;
    setState((previous) => ({ ...previous, loading: true }));
    api(path).then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState({ data: null, error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [path]);
  useEffect(load, [load]);
  return { ...state, reload: load };
}

/** What a page shows while its data is loading or could not be loaded. */
export function Pending({ state, what }) {
  if (state.error) return html`<${Problem} error=${state.error} what=${what} />`;
  return html`<p class="muted" aria-busy="true">Loading ${what}…</p>`;
}

export function Problem({ error, what }) {
  return html`<div class="problem-box" role="alert">
    <strong>Could not load ${what}.</strong> ${error.message}
    ${error.status ? html` <span class="muted">(HTTP ${error.status})</span>` : null}
  </div>`;
}

/** A value as indented JSON. */
export function Json({ value, label }) {
  return html`<pre class="json" tabindex="0" aria-label=${label ?? "JSON"}>${JSON.stringify(value, null, 2)}</pre>`;
}

/** A button that copies `text` and says so. */
export function CopyButton({ text, label = "Copy" }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setDone(true);
      setTimeout(() => setDone(false), 1500);
    } catch {
      // No clipboard (plain http on another host): every copied text is also on the page.
    }
  };
  return html`<button type="button" class="secondary small" onClick=${copy}>${done ? "Copied" : label}</button>`;
}

/** A snippet with its copy button. */
export function Snippet({ text, label }) {
  return html`<div class="snippet">
    <div class="snippet-bar"><span>${label}</span><${CopyButton} text=${text} /></div>
    <pre>${text}</pre>
  </div>`;
}

export function HealthBadge({ healthy, enabled = true }) {
  if (!enabled) return html`<span class="badge off">disabled</span>`;
  return healthy
    ? html`<span class="badge ok">healthy</span>`
    : html`<span class="badge bad">down</span>`;
}

export function StatusBadge({ status }) {
  const tone = status === "success" ? "ok" : status === "denied" || status === "rate_limited" ? "warn" : "bad";
  return html`<span class=${`badge ${tone}`}>${status}</span>`;
}

/** A time as the browser's locale shows it, with the exact value on hover. */
export function When({ timestamp }) {
  const date = new Date(timestamp);
  return html`<time datetime=${timestamp} title=${timestamp}>${date.toLocaleString()}</time>`;
}
