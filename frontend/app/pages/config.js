// Config (admin): the loaded configuration as `GET /config` gives it, secrets removed.
import { CopyButton, Json, Pending, useApi } from "../lib/components.js";
import { html } from "../lib/html.js";

export function Config() {
  const config = useApi("/config");
  return html`<h1>Config</h1>
    <p class="muted">The configuration the gateway runs with, as loaded from its file; every
      secret is removed.</p>
    ${config.data
      ? html`<div class="actions"><${CopyButton} label="Copy JSON" text=${JSON.stringify(config.data, null, 2)} />
          <button type="button" class="secondary small" onClick=${config.reload}>Reload</button></div>
          <${Json} value=${config.data} label="configuration" />`
      : html`<${Pending} state=${config} what="the configuration" />`}`;
}
