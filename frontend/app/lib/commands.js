// A tool call as a terminal command: `curl` against the REST API, or `mcpgw call`. Pure
// functions of the gateway's public URL, whether it wants a token, the tool and its
// arguments.

/** Single-quote a string for a POSIX shell. */
export function shellQuote(text) {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** `curl` posting the arguments to `/tools/<name>/invoke`; the token from `mcpgw token`. */
export function curlOf({ publicUrl, authEnabled }, name, args) {
  const lines = [`curl -sS -X POST ${shellQuote(`${publicUrl}/tools/${encodeURIComponent(name)}/invoke`)}`];
  if (authEnabled) lines.push(`-H "Authorization: Bearer $(mcpgw token)"`);
  lines.push(`-H 'Content-Type: application/json'`, `-d ${shellQuote(JSON.stringify(args))}`);
  return lines.join(" \\\n  ");
}

/** `mcpgw call`, naming this gateway (so that an `MCP_GATEWAY_URL` elsewhere does not win). */
export function mcpgwOf({ publicUrl }, name, args) {
  return `mcpgw --url ${shellQuote(publicUrl)} call ${shellQuote(name)} --json ${shellQuote(JSON.stringify(args))}`;
}
