// The web console in a real browser: Playwright (playwright-core) driving Debian's chromium
// against a running gateway. Started by server/tests/it/console.rs, which runs the gateway
// binary, the mock backends and the issuer, and passes:
//
//   GATEWAY_URL   the gateway (http://127.0.0.1:<port>)
//   ISSUER_URL    the Keycloak-shaped issuer's base URL; absent: the gateway has auth off
//   SCENARIO      "sign-in" (with ISSUER_URL) or "auth-off"
//   SCREENSHOTS   a directory for a screenshot of each page (optional)
//   CHROMIUM      the browser (default /usr/bin/chromium)
//
// Each step prints one line; the first failure prints what the page showed and exits 1.

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const GATEWAY = required("GATEWAY_URL");
const ISSUER = process.env.ISSUER_URL;
const SCENARIO = required("SCENARIO");
const SHOTS = process.env.SCREENSHOTS;

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
});
const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
const page = await context.newPage();

// Every request the console makes, to check where they go; every script error.
const requested = [];
const scriptErrors = [];
page.on("request", (request) => requested.push(request.url()));
page.on("pageerror", (error) => scriptErrors.push(error.message));
// The browser reports what the page's CSP blocked as console errors.
const blocked = [];
page.on("console", (message) => {
  if (message.type() === "error" && /Content Security Policy/i.test(message.text())) {
    blocked.push(message.text());
  }
});

let current = "start";
async function step(name, body) {
  current = name;
  await body();
  console.log(`ok  ${name}`);
}

async function shot(name) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** Open a console page from the navigation, as a user does. */
async function open(label) {
  await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name: label }).click();
  await page.getByRole("heading", { level: 1, name: label }).waitFor();
}

async function navLabels() {
  return page.getByRole("navigation", { name: "Console" }).getByRole("link").allTextContents();
}

async function signIn(username, password) {
  await page.goto(`${GATEWAY}/ui/`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((url) => url.href.startsWith(ISSUER));
  await page.locator("#username").fill(username);
  await page.locator("#password").fill(password);
  await page.locator("#kc-login").click();
  await page.waitForURL((url) => url.href.startsWith(`${GATEWAY}/ui/`));
  await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
  assert.equal(await page.locator("[data-test=user]").textContent(), username);
  // The code and state are gone from the address bar.
  assert.equal(new URL(page.url()).search, "");
}

/** Sign out: through the issuer's end-session endpoint (naming the session's id token), back
 * to the console's sign-in screen, with no token left in the tab. */
async function signOut() {
  const before = requested.length;
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  assert.equal(new URL(page.url()).origin, GATEWAY);
  const logout = requested
    .slice(before)
    .map((url) => new URL(url))
    .find((url) => url.origin === new URL(ISSUER).origin && url.pathname.endsWith("/protocol/openid-connect/logout"));
  assert.ok(logout, "the issuer's end-session endpoint was visited");
  assert.ok(logout.searchParams.get("id_token_hint"), logout.href);
  assert.equal(logout.searchParams.get("post_logout_redirect_uri"), `${GATEWAY}/ui/`);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("mcp-gateway.console.tokens")), null);
}

/**
 * Run `check` until it passes (pages fill in as their data arrives), at most 10 s; then its
 * last failure is the test's.
 */
async function eventually(check) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await page.waitForTimeout(100);
    }
  }
}

/** The server names in the Servers table, once it has loaded. */
async function listedServers() {
  const links = page.locator("[data-test=servers] tbody tr td:first-child a");
  await links.first().waitFor();
  return (await links.allTextContents()).sort();
}

/** The names in the tool list. */
async function listedTools() {
  return page.locator("[data-test=tool-list] code").allTextContents();
}

/** Choose a tool in the list, fill its form by label, call it; the result's text. */
async function callTool(name, fill = async () => {}) {
  await open("Tools");
  await page.getByLabel("Server", { exact: true }).selectOption("");
  await page.getByLabel("Tag", { exact: true }).selectOption("");
  await page.getByLabel("Search", { exact: true }).fill(name);
  await page.locator("[data-test=tool-list] a", { hasText: name }).first().click();
  await page.getByRole("heading", { level: 2, name }).waitFor();
  await fill();
  await page.getByRole("button", { name: "Call", exact: true }).click();
  const result = page.locator("[data-test=result]");
  await result.waitFor();
  return result;
}

/** The servers of a broadcast result table, in order. */
async function broadcastRows(result) {
  const rows = result.locator("[data-test=broadcast-results] tbody tr");
  await rows.first().waitFor();
  return rows.evaluateAll((trs) =>
    trs.map((tr) => ({
      server: tr.dataset.server,
      outcome: tr.children[1].textContent.trim(),
      time: tr.children[2].textContent.trim(),
      text: tr.children[3].textContent,
    })),
  );
}

async function signInScenario() {
  assert.ok(ISSUER, "ISSUER_URL is required for sign-in");

  await step("signed out, the console offers a sign-in and nothing else", async () => {
    await page.goto(`${GATEWAY}/ui/tools`);
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    assert.equal(await page.getByRole("navigation").count(), 0);
    await shot("sign-in");
  });

  await step("a wrong password is refused at the issuer", async () => {
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((url) => url.href.startsWith(ISSUER));
    await page.locator("#username").fill("testuser");
    await page.locator("#password").fill("wrong");
    await page.locator("#kc-login").click();
    await page.getByText("Invalid username or password.").waitFor();
  });

  await step("testuser signs in (code + PKCE) and lands on the Overview", async () => {
    await signIn("testuser", "testpass");
    assert.deepEqual(await navLabels(), ["Overview", "Servers", "Tools", "Connect"]);
  });

  await step("Servers shows only the servers testuser may call", async () => {
    await open("Servers");
    assert.deepEqual(await listedServers(), ["prod-elk-1", "staging-elk"]);
    await page.getByRole("link", { name: "prod-elk-1" }).click();
    await page.getByRole("heading", { level: 1, name: "prod-elk-1" }).waitFor();
    await page.getByRole("link", { name: "prod-elk-1__search_logs" }).waitFor();
  });

  await step("Tools lists only permitted tools and filters by server and tag", async () => {
    await open("Tools");
    await eventually(async () => {
      const all = await listedTools();
      assert.ok(all.includes("prod-elk-1__search_logs"), all.join(" "));
      assert.ok(all.includes("broadcast__search_logs"), all.join(" "));
      assert.ok(all.includes("staging-elk__check_health"), all.join(" "));
      assert.ok(!all.some((name) => name.startsWith("prod-db-primary__")), all.join(" "));
    });
    await page.getByLabel("Server", { exact: true }).selectOption("staging-elk");
    await eventually(async () => {
      const staging = await listedTools();
      assert.ok(staging.length > 0 && staging.every((n) => n.startsWith("staging-elk__")), staging.join(" "));
    });
    await page.getByLabel("Server", { exact: true }).selectOption("");
    await page.getByLabel("Tag", { exact: true }).selectOption("production");
    await eventually(async () => {
      const production = await listedTools();
      assert.ok(production.length > 0 && production.every((n) => n.startsWith("prod-elk-1__")), production.join(" "));
    });
    await page.getByLabel("Tag", { exact: true }).selectOption("");
    await page.getByLabel("Search", { exact: true }).fill("search_logs");
    await eventually(async () => {
      const found = await listedTools();
      assert.ok(found.length === 3 && found.every((n) => n.includes("search_logs")), found.join(" "));
    });
  });

  await step("a tool called through its generated form", async () => {
    const result = await callTool("prod-elk-1__search_logs", async () => {
      assert.equal(await page.getByLabel("query", { exact: true }).getAttribute("required"), "");
      await page.getByLabel("query", { exact: true }).fill("timeout");
      await page.getByLabel("limit", { exact: true }).fill("2");
    });
    assert.equal(await result.locator("[data-test=outcome]").textContent(), "Success");
    assert.match(await result.textContent(), /search_logs query=timeout: 2 hits/);
    await shot("tool-call");
  });

  await step("a required field left empty is named, and nothing is called", async () => {
    await page.getByLabel("query", { exact: true }).fill("");
    await page.getByRole("button", { name: "Call", exact: true }).click();
    await page.getByRole("alert").filter({ hasText: "query: required" }).waitFor();
  });

  await step("a broadcast shows one row per permitted server", async () => {
    const result = await callTool("broadcast__search_logs", async () => {
      await page.getByLabel("query", { exact: true }).fill("disk");
    });
    const rows = await broadcastRows(result);
    assert.deepEqual(rows.map((r) => r.server), ["prod-elk-1", "staging-elk"]);
    for (const row of rows) {
      assert.equal(row.outcome, "ok");
      assert.match(row.time, /^\d+ ms$/);
      assert.match(row.text, new RegExp(`\\[${row.server}\\] search_logs query=disk`));
    }
    await shot("broadcast");
  });

  await step("Audit is not offered to testuser, even by address", async () => {
    await page.goto(`${GATEWAY}/ui/audit`);
    await page.getByText("The Audit page is for the admin role.").waitFor();
  });

  await step("the access token is refreshed silently before it expires", async () => {
    // The issuer's access tokens live 12 s; the console refreshes half their lifetime early.
    const token = () => page.evaluate(() => JSON.parse(sessionStorage.getItem("mcp-gateway.console.tokens")).access);
    const first = await token();
    await eventually(async () => assert.notEqual(await token(), first));
    const grants = await (await fetch(`${ISSUER}/test/grants`)).json();
    assert.ok(grants.includes("refresh_token"), grants.join(" "));
    await open("Servers");
    await page.getByRole("link", { name: "staging-elk" }).waitFor();
  });

  await step("a sign-in answer this tab did not ask for is refused", async () => {
    await page.goto(`${GATEWAY}/ui/?code=stolen&state=forged&error=x&error_description=Call+0800`);
    await page.getByText("this sign-in answer was not asked for by this tab").waitFor();
    assert.equal(await page.getByText("Call 0800").count(), 0);
    assert.equal(new URL(page.url()).search, "");
    // The session of this tab is still there: the console is back on a reload.
    await page.goto(`${GATEWAY}/ui/`);
    assert.equal(await page.locator("[data-test=user]").textContent(), "testuser");
  });

  await step("Sign out ends the session at the issuer and comes back", async () => {
    await signOut();
  });

  await step("admin signs in and sees Audit and Config", async () => {
    await signIn("admin", "admin123");
    assert.deepEqual(await navLabels(), ["Overview", "Servers", "Tools", "Audit", "Config", "Connect"]);
    await page.locator("[data-test=calls-last-hour]").waitFor();
    await shot("overview");
    await open("Servers");
    assert.deepEqual(await listedServers(), ["prod-db-primary", "prod-elk-1", "staging-elk"]);
    await shot("servers");
  });

  await step("admin finds testuser's call in Audit, with its full record", async () => {
    await open("Audit");
    await page.getByLabel("User", { exact: true }).fill("testuser");
    await page.getByLabel("Tool", { exact: true }).fill("prod-elk-1__search_logs");
    await page.getByRole("button", { name: "Apply" }).click();
    // Newest first: the broadcast's record for prod-elk-1 comes before the form's call.
    const row = page.locator("[data-test=audit] tbody tr", { hasText: "prod-elk-1__search_logs" }).last();
    await row.waitFor();
    assert.match(await row.textContent(), /tool_call.*testuser.*success/);
    await row.getByRole("button", { name: "JSON" }).click();
    const record = JSON.parse(await page.locator("pre[aria-label='audit record']").textContent());
    assert.equal(record.user, "testuser");
    assert.equal(record.transport, "rest");
    assert.deepEqual(record.parameters, { query: "timeout", limit: 2 });
  });

  await step("the audit hash chain verifies", async () => {
    await page.getByRole("button", { name: "Verify the hash chain" }).click();
    await page.locator("[data-test=chain]", { hasText: "Chain intact" }).waitFor();
    await shot("audit");
  });

  await step("Follow live adds a new record without a reload", async () => {
    await page.getByLabel("User", { exact: true }).fill("");
    await page.getByLabel("Tool", { exact: true }).fill("");
    await page.getByRole("button", { name: "Apply" }).click();
    // The list has loaded (every user's records) before the new call is made.
    await page.locator("[data-test=audit] tbody tr", { hasText: "admin" }).first().waitFor();
    await page.getByText("Loading…").waitFor({ state: "detached" });
    const before = await page.locator("[data-test=audit] tbody tr", { hasText: "staging-elk__check_health" }).count();
    assert.equal(before, 0);
    await page.getByLabel("Follow live", { exact: true }).check();
    const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem("mcp-gateway.console.tokens")).access);
    const answer = await fetch(`${GATEWAY}/tools/staging-elk__check_health/invoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(answer.status, 200);
    await page.locator("[data-test=audit] tbody tr", { hasText: "staging-elk__check_health" }).first().waitFor();
    await page.getByLabel("Follow live", { exact: true }).uncheck();
  });

  await step("Config shows the loaded configuration", async () => {
    await open("Config");
    const config = JSON.parse(await page.locator("pre[aria-label='configuration']").textContent());
    assert.ok(config.servers["prod-db-primary"], JSON.stringify(config).slice(0, 300));
    await shot("config");
  });

  await step("Connect writes this gateway's address into every client's config", async () => {
    await open("Connect");
    assert.equal(await page.locator("[data-test=mcp-url]").textContent(), `${GATEWAY}/mcp`);
    for (const client of ["Claude Desktop", "Claude Code", "Cursor", "VS Code", "MCP Inspector", "curl"]) {
      await page.getByRole("heading", { level: 2, name: client, exact: true }).waitFor();
    }
    const snippets = await page.locator(".snippet pre").allTextContents();
    assert.ok(snippets.every((text) => text.includes(GATEWAY)), snippets.join("\n"));
    await shot("connect");
  });

  await step("Sign out as admin", async () => {
    await signOut();
  });
}

async function authOffScenario() {
  await step("with auth off there is no sign-in: the anonymous admin's console", async () => {
    await page.goto(`${GATEWAY}/ui/`);
    await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
    assert.equal(await page.locator("[data-test=user]").textContent(), "anonymous");
    assert.equal(await page.getByRole("button", { name: /Sign (in|out)/ }).count(), 0);
    assert.deepEqual(await navLabels(), ["Overview", "Servers", "Tools", "Audit", "Config", "Connect"]);
    await page.locator("[data-test=healthy]", { hasText: "2" }).waitFor();
  });

  await step("the keyboard reaches the content first through the skip link", async () => {
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
    await page.keyboard.press("Enter");
    assert.equal(await page.evaluate(() => document.activeElement.id), "main");
    assert.equal(new URL(page.url()).pathname, "/ui/");
  });

  await step("search finds words of descriptions; a tag keeps its servers and its broadcast", async () => {
    await open("Tools");
    await page.getByLabel("Search", { exact: true }).fill("annotations");
    await eventually(async () => assert.deepEqual(await listedTools(), ["everything__get-annotated-message"]));
    await page.getByLabel("Search", { exact: true }).fill("");
    await page.getByLabel("Tag", { exact: true }).selectOption("demo-tag");
    await eventually(async () => {
      const tagged = await listedTools();
      assert.ok(tagged.includes("broadcast__by_tag__demo_tag"), tagged.join(" "));
      assert.ok(tagged.includes("alpha__echo") && tagged.includes("everything__echo"), tagged.join(" "));
      assert.ok(!tagged.includes("broadcast__echo"), tagged.join(" "));
    });
  });

  await step("an enum and a boolean from a real server's schema, and an image result", async () => {
    const result = await callTool("everything__get-annotated-message", async () => {
      const kind = page.getByLabel("messageType", { exact: true });
      assert.equal(await kind.evaluate((e) => e.tagName), "SELECT");
      await kind.selectOption("success");
      const image = page.getByLabel("includeImage", { exact: true });
      assert.equal(await image.getAttribute("type"), "checkbox");
      await image.check();
    });
    assert.equal(await result.locator("[data-test=outcome]").textContent(), "Success");
    await result.locator("img.result-image").waitFor();
    await shot("tool-form-everything");
  });

  await step("numbers are sent as numbers", async () => {
    const result = await callTool("everything__get-sum", async () => {
      assert.equal(await page.getByLabel("a", { exact: true }).getAttribute("type"), "number");
      await page.getByLabel("a", { exact: true }).fill("2.5");
      await page.getByLabel("b", { exact: true }).fill("4");
    });
    assert.match(await result.textContent(), /6\.5/);
  });

  await step("a tool error is marked as one", async () => {
    const result = await callTool("alpha__search_logs", async () => {
      await page.getByLabel("query", { exact: true }).fill("x");
      await page.getByLabel("limit", { exact: true }).fill("-1");
    });
    assert.equal(await result.locator("[data-test=outcome]").textContent(), "Tool error");
  });

  await step("a broadcast over the mock and the real server", async () => {
    const result = await callTool("broadcast__echo", async () => {
      // The mock's echo takes any object: the form offers one JSON field for it.
      await page.getByLabel("arguments", { exact: true }).fill('{"message": "hello"}');
    });
    const rows = await broadcastRows(result);
    assert.deepEqual(rows.map((r) => r.server), ["alpha", "everything"]);
  });

  await step("Audit and Config answer the anonymous admin", async () => {
    await open("Audit");
    await page.locator("[data-test=audit] tbody tr", { hasText: "everything__get-sum" }).first().waitFor();
    await open("Config");
    await page.locator("pre[aria-label='configuration']").waitFor();
    await open("Connect");
    const snippets = await page.locator(".snippet pre").allTextContents();
    assert.ok(!snippets.some((text) => text.includes("Authorization")), snippets.join("\n"));
  });

  await step("a phone-sized screen keeps every page reachable", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await open("Tools");
    await page.getByLabel("Search", { exact: true }).waitFor();
    // Nothing wider than the screen: the page does not scroll sideways.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    await shot("phone-tools");
    // The navigation scrolls within itself: its last page is reachable.
    await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name: "Connect" }).click();
    await page.getByRole("heading", { level: 1, name: "Connect" }).waitFor();
  });
}

try {
  if (SCENARIO === "sign-in") await signInScenario();
  else if (SCENARIO === "auth-off") await authOffScenario();
  else throw new Error(`unknown SCENARIO ${SCENARIO}`);

  await step("no request left the gateway's origin except to the issuer", async () => {
    const allowed = new Set([new URL(GATEWAY).origin, ...(ISSUER ? [new URL(ISSUER).origin] : [])]);
    const elsewhere = requested.filter((url) => !url.startsWith("data:") && !allowed.has(new URL(url).origin));
    assert.deepEqual(elsewhere, []);
  });
  await step("no script error on any page, nothing blocked by the CSP", async () => {
    assert.deepEqual(scriptErrors, []);
    assert.deepEqual(blocked, []);
  });
} catch (error) {
  console.log(`FAILED at: ${current}`);
  console.log(error.stack ?? String(error));
  console.log(`page: ${page.url()}`);
  console.log((await page.locator("body").innerText().catch(() => "")).slice(0, 3000));
  process.exitCode = 1;
} finally {
  await browser.close();
}
