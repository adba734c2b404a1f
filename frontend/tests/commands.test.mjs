// The console's "copy as" commands (frontend/app/lib/commands.js): what a user pastes must run
// as shown, whatever the arguments hold.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { curlOf, mcpgwOf, shellQuote } from "../app/lib/commands.js";

/** What a POSIX shell makes of `words` (printf prints each word on its own line). */
function shellWords(words) {
  return execFileSync("sh", ["-c", `printf '%s\\n' ${words}`], { encoding: "utf8" }).split("\n").slice(0, -1);
}

test("quoted text reaches the command unchanged, quotes and $ included", () => {
  const text = `it's $HOME and "quotes" \\ and \`backticks\``;
  assert.deepEqual(shellWords(shellQuote(text)), [text]);
});

test("curl posts the JSON arguments to the tool's invoke route, with a token when auth is on", () => {
  const args = { query: "it's down", limit: 2 };
  const on = curlOf({ publicUrl: "https://mcp.example.com", authEnabled: true }, "prod-elk-1__search_logs", args);
  assert.match(on, /^curl -sS -X POST 'https:\/\/mcp\.example\.com\/tools\/prod-elk-1__search_logs\/invoke'/);
  assert.match(on, /-H "Authorization: Bearer \$\(mcpgw token\)"/);
  const body = shellWords(on.split(" -d ")[1])[0];
  assert.deepEqual(JSON.parse(body), args);
  const off = curlOf({ publicUrl: "http://127.0.0.1:8000", authEnabled: false }, "a__b", {});
  assert.doesNotMatch(off, /Authorization/);
});

test("mcpgw names the gateway and passes the arguments as JSON", () => {
  const command = mcpgwOf({ publicUrl: "http://localhost:8000" }, "a__b", { text: "x'y" });
  const words = shellWords(command.slice("mcpgw ".length));
  assert.deepEqual(words, ["--url", "http://localhost:8000", "call", "a__b", "--json", '{"text":"x\'y"}']);
});
