// An OIDC issuer shaped like Keycloak, for the tests: npm's oauth2-mock-server (which signs the
// tokens, serves JWKS and discovery, and checks PKCE) under Keycloak's paths, with the realm's
// users, roles and clients added around it.
//
//   node keycloak-issuer.mjs [--port N] [--access-ttl S] [--refresh-ttl S]
//                            [--no-audience] [--no-registration] [--login-form]
//
// Listens on 127.0.0.1 (port 0 picks a free one) and prints one JSON line on stdout:
// {"url": "http://127.0.0.1:<port>", "issuer": "<url>/realms/mcp-gateway"}.
//
// What it adds to the mock, as Keycloak would do it:
// - realm `mcp-gateway` at /realms/mcp-gateway, endpoints under /protocol/openid-connect/;
// - users testuser/testpass (realm role user), admin/admin123 (admin); a wrong password is
//   401 invalid_grant "Invalid user credentials";
// - public clients mcp-cli (password grant, and authorization code with S256 PKCE on a
//   loopback redirect) and mcp-ui (authorization code with S256 PKCE, for the console);
//   any other client is 401 invalid_client;
// - redirects checked as the realm (examples/keycloak/mcp-gateway-realm.json) has them,
//   else 400 "Invalid parameter: redirect_uri": mcp-cli's on http://127.0.0.1 or
//   http://localhost, any port (Keycloak drops a loopback redirect's port before matching,
//   RFC 8252 §7.3) and any path; mcp-ui's on http://127.0.0.1:<port>/ui/... or
//   http://localhost:<port>/ui/... — real Keycloak's mcp-ui client allows port 8000 only,
//   the tests run the gateway on a random port, so here any port will do;
// - the authorization endpoint approves at once, as the user of login_hint (default
//   testuser); with --login-form it shows a login page like Keycloak's instead (title "Sign
//   in to mcp-gateway", #username, #password, submit #kc-login, the authorize request in
//   hidden fields, login_hint fills in the username) that posts to
//   <realm>/login-actions/authenticate: a right password makes the mock's redirect with a
//   code for that user, a wrong one shows the form again with "Invalid username or
//   password." (200, no redirect); prompt=none goes back with error=login_required, as
//   Keycloak does without a session (this issuer keeps none: every sign-in asks again);
// - access tokens with Keycloak's claims: aud [mcp-gateway, account] (the audience mapper;
//   --no-audience leaves it out), azp, preferred_username, realm_access, resource_access,
//   scope; exp after --access-ttl seconds;
// - refresh tokens that name their user and expire after --refresh-ttl seconds; revocation
//   makes one unusable at once;
// - a dynamic client registration endpoint (--no-registration leaves it out);
// - CORS for a browser on any origin (Keycloak allows the client's web origins only):
//   `Access-Control-Allow-Origin: *` on every JSON answer — the mock's cors() does it for
//   token, certs, userinfo, introspection and every preflight, this file for discovery,
//   revocation and registration. No credentials (cookies) are allowed across origins;
// - logout (end session): the mock redirects (302) to post_logout_redirect_uri, with state;
//   first, as Keycloak does, that URI must be one of the client's redirects (the realm gives
//   mcp-ui the same /ui/ ones), the client named by client_id or by the audience of
//   id_token_hint (not verified), else 400; without post_logout_redirect_uri a "You are
//   logged out" page. Nothing is forgotten: refresh tokens stay valid until revoked;
// - GET /test/grants: the grant types served so far, in order (tests assert refreshes).

import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { OAuth2Issuer, OAuth2Service } from "oauth2-mock-server";

const REALM = "mcp-gateway";
const PREFIX = `/realms/${REALM}`;
const OIDC = "/protocol/openid-connect";

const USERS = {
  testuser: {
    password: "testpass",
    subject: "7c1e4f7a-1f0b-4d3e-9a55-000000000001",
    roles: ["user"],
  },
  admin: {
    password: "admin123",
    subject: "7c1e4f7a-1f0b-4d3e-9a55-000000000002",
    roles: ["admin"],
  },
};
const PUBLIC_CLIENTS = new Set(["mcp-cli", "mcp-ui"]);
/** Where each client's redirects may go on a loopback host: the start of their path. */
const REDIRECT_PATHS = new Map([
  ["mcp-cli", "/"],
  ["mcp-ui", "/ui/"],
]);
/** Where the login page posts to (Keycloak's path for its login form). */
const LOGIN_ACTION = "/login-actions/authenticate";
/** The login page's own fields; every other field carries the authorize request. */
const LOGIN_FIELDS = new Set(["username", "password"]);

function options(argv) {
  const given = {
    port: 0,
    accessTtl: 300,
    refreshTtl: 1800,
    audience: true,
    registration: true,
    loginForm: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === "--port") given.port = Number(argv[++i]);
    else if (flag === "--access-ttl") given.accessTtl = Number(argv[++i]);
    else if (flag === "--refresh-ttl") given.refreshTtl = Number(argv[++i]);
    else if (flag === "--no-audience") given.audience = false;
    else if (flag === "--no-registration") given.registration = false;
    else if (flag === "--login-form") given.loginForm = true;
    else throw new Error(`unknown flag ${flag}`);
  }
  return given;
}

const settings = options(process.argv.slice(2));
const issuer = new OAuth2Issuer();
await issuer.keys.generate("RS256");
const service = new OAuth2Service(issuer, {
  wellKnownDocument: "/.well-known/openid-configuration",
  jwks: `${OIDC}/certs`,
  token: `${OIDC}/token`,
  authorize: `${OIDC}/auth`,
  userinfo: `${OIDC}/userinfo`,
  revoke: `${OIDC}/revoke`,
  endSession: `${OIDC}/logout`,
  introspect: `${OIDC}/token/introspect`,
});

/** Authorization codes → username; refresh tokens → {username, expires} (ms). */
const codes = new Map();
const refreshTokens = new Map();
const grants = [];

/** The user a token request is for, or undefined when it names none that is valid. */
function userOf(body) {
  switch (body.grant_type) {
    case "password": {
      const user = USERS[body.username];
      return user && user.password === body.password ? body.username : undefined;
    }
    case "authorization_code":
      return codes.get(body.code);
    case "refresh_token": {
      const held = refreshTokens.get(body.refresh_token);
      return held && held.expires > Date.now() ? held.username : undefined;
    }
    default:
      return undefined;
  }
}

service.on("beforeAuthorizeRedirect", (redirect, req) => {
  const url = new URL(req.url, "http://issuer");
  const code = redirect.url.searchParams.get("code");
  if (code) codes.set(code, url.searchParams.get("login_hint") || "testuser");
});

service.on("beforeTokenSigning", (token, req) => {
  const username = userOf(req.body);
  const user = USERS[username];
  if (!user) return; // the response is replaced by an error below
  const now = Math.floor(Date.now() / 1000);
  token.payload.sub = user.subject;
  token.payload.preferred_username = username;
  token.payload.azp = req.body.client_id;
  if (token.payload.amr === undefined) return; // the id token: nothing more
  Object.assign(token.payload, {
    exp: now + settings.accessTtl,
    typ: "Bearer",
    jti: randomUUID(),
    scope: "openid profile email",
    realm_access: { roles: user.roles },
    resource_access: {
      account: { roles: ["manage-account", "view-profile"] },
    },
  });
  if (settings.audience) token.payload.aud = ["mcp-gateway", "account"];
  else token.payload.aud = "account";
});

service.on("beforeResponse", (response, req) => {
  const body = req.body;
  const refuse = (status, error, description) => {
    response.statusCode = status;
    response.body = { error, error_description: description };
  };
  if (!PUBLIC_CLIENTS.has(body.client_id)) {
    return refuse(401, "invalid_client", "Invalid client or Invalid client credentials");
  }
  const username = userOf(body);
  if (username === undefined) {
    return body.grant_type === "password"
      ? refuse(401, "invalid_grant", "Invalid user credentials")
      : refuse(400, "invalid_grant", "Token is not active");
  }
  if (body.grant_type === "authorization_code") codes.delete(body.code);
  grants.push(body.grant_type);
  response.body.expires_in = settings.accessTtl;
  response.body.refresh_expires_in = settings.refreshTtl;
  response.body.scope = "openid profile email";
  refreshTokens.set(response.body.refresh_token, {
    username,
    expires: Date.now() + settings.refreshTtl * 1000,
  });
});

/** Discovery as the mock writes it, plus Keycloak's registration endpoint. */
function discovery() {
  let document;
  service.openidConfigurationHandler(undefined, { json: (body) => (document = body) });
  if (settings.registration) {
    document.registration_endpoint = `${issuer.url}/clients-registrations/openid-connect`;
  }
  return document;
}

/** The request body as text. */
async function readBody(req) {
  let text = "";
  for await (const chunk of req) text += chunk;
  return text;
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A JSON answer, readable by a browser on another origin (the console's) as the mock's are. */
function send(res, status, body) {
  res.writeHead(status, {
    "content-type": "application/json",
    "access-control-allow-origin": "*",
  });
  res.end(JSON.stringify(body));
}

/** An HTML page, with the headers Keycloak gives its own (no framing by other origins). */
function sendPage(res, status, html) {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store, must-revalidate, max-age=0",
    "content-security-policy": "frame-src 'self'; frame-ancestors 'self'; object-src 'none';",
    "x-frame-options": "SAMEORIGIN",
    "referrer-policy": "no-referrer",
  });
  res.end(html);
}

function redirectTo(res, url) {
  res.writeHead(302, { location: url.href });
  res.end();
}

function escapeHtml(text) {
  const entities = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  return String(text).replace(/[&<>"']/g, (c) => entities[c]);
}

/** Whether `uri` is one of `client`'s redirects in the realm (any port: see the top). */
function redirectAllowed(client, uri) {
  const path = REDIRECT_PATHS.get(client);
  if (path === undefined || !URL.canParse(uri)) return false;
  const url = new URL(uri);
  const loopback = url.hostname === "127.0.0.1" || url.hostname === "localhost";
  return url.protocol === "http:" && loopback && url.pathname.startsWith(path);
}

/** Keycloak refuses a public client's code flow without S256 PKCE or off its redirects. */
function authorizeRefusal(query) {
  const client = query.get("client_id");
  if (!PUBLIC_CLIENTS.has(client)) return "Invalid client";
  if (query.get("code_challenge_method") !== "S256") return "Missing parameter: code_challenge_method";
  if (!redirectAllowed(client, query.get("redirect_uri"))) return "Invalid parameter: redirect_uri";
  return undefined;
}

/** Keycloak's login page, reduced to what a browser test fills in. */
function loginPage(query, username, error) {
  const hidden = [...query]
    .filter(([name]) => !LOGIN_FIELDS.has(name))
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`);
  const alert = error ? `<span id="input-error" role="alert">${escapeHtml(error)}</span>` : "";
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in to ${escapeHtml(REALM)}</title></head>
<body>
<h1 id="kc-page-title">Sign in to your account</h1>
${alert}
<form id="kc-form-login" method="post" action="${escapeHtml(PREFIX + LOGIN_ACTION)}">
<label for="username">Username or email</label>
<input id="username" name="username" type="text" value="${escapeHtml(username)}" autofocus autocomplete="username">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password">
${hidden.join("\n")}
<input type="submit" id="kc-login" value="Sign In">
</form>
</body>
</html>
`;
}

/** The authorization endpoint with --login-form: the login page, Keycloak without a session. */
function askToSignIn(res, query) {
  if (query.get("prompt") === "none") {
    // Nobody is signed in, so a silent request cannot succeed.
    const back = new URL(query.get("redirect_uri"));
    back.searchParams.set("error", "login_required");
    if (query.has("state")) back.searchParams.set("state", query.get("state"));
    return redirectTo(res, back);
  }
  sendPage(res, 200, loginPage(query, query.get("login_hint") ?? ""));
}

/** The login form posted: the mock's redirect with a code for the user, or the form again. */
function signIn(req, res, form) {
  const username = form.get("username") ?? "";
  const query = new URLSearchParams([...form].filter(([name]) => !LOGIN_FIELDS.has(name)));
  // The hidden fields come back from the browser: check them as the first request was.
  const refusal = authorizeRefusal(query);
  if (refusal) return send(res, 400, { error: "invalid_request", error_description: refusal });
  if (USERS[username]?.password !== form.get("password")) {
    return sendPage(res, 200, loginPage(query, username, "Invalid username or password."));
  }
  // The mock answers the authorize request as if the browser had sent it with login_hint: it
  // makes the code, keeps its PKCE challenge and redirects; beforeAuthorizeRedirect maps the
  // code to the user. The form body is read, so the mock must not look for one.
  query.set("login_hint", username);
  req.method = "GET";
  delete req.headers["content-type"];
  delete req.headers["content-length"];
  toMock(req, res, `${OIDC}/auth?${query}`);
}

/** The client an end-session request is for: client_id, else the id token's audience. */
function logoutClient(query) {
  if (query.has("client_id")) return query.get("client_id");
  const payload = query.get("id_token_hint")?.split(".")[1];
  if (payload === undefined) return undefined;
  const claims = parseJson(Buffer.from(payload, "base64url").toString());
  return [claims?.aud].flat()[0];
}

/** Keycloak redirects after logout only to a redirect of the client it can tell. */
function logoutRefusal(query) {
  if (!query.has("post_logout_redirect_uri")) return undefined;
  const client = logoutClient(query);
  if (client === undefined) return "Missing parameters: id_token_hint";
  if (!redirectAllowed(client, query.get("post_logout_redirect_uri"))) return "Invalid redirect uri";
  return undefined;
}

function loggedOutPage() {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Signing out</title></head>
<body><h1 id="kc-page-title">You are logged out</h1></body>
</html>
`;
}

/** Hands a request to the mock at `path`, its own path (under the realm, without it). */
function toMock(req, res, path) {
  req.url = path;
  service.requestHandler(req, res);
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://issuer");
  if (req.method === "GET" && url.pathname === "/test/grants") {
    return send(res, 200, grants);
  }
  if (!url.pathname.startsWith(PREFIX)) return send(res, 404, { error: "Realm does not exist" });
  const path = url.pathname.slice(PREFIX.length);
  if (req.method === "GET" && path === "/.well-known/openid-configuration") {
    return send(res, 200, discovery());
  }
  if (req.method === "POST" && path === `${OIDC}/revoke`) {
    refreshTokens.delete(new URLSearchParams(await readBody(req)).get("token"));
    return send(res, 200, {});
  }
  if (req.method === "POST" && path === "/clients-registrations/openid-connect" && settings.registration) {
    const metadata = parseJson(await readBody(req)) ?? {};
    return send(res, 201, { ...metadata, client_id: randomUUID() });
  }
  if (req.method === "GET" && path === `${OIDC}/auth`) {
    const refusal = authorizeRefusal(url.searchParams);
    if (refusal) return send(res, 400, { error: "invalid_request", error_description: refusal });
    if (settings.loginForm) return askToSignIn(res, url.searchParams);
  }
  if (req.method === "POST" && path === LOGIN_ACTION && settings.loginForm) {
    return signIn(req, res, new URLSearchParams(await readBody(req)));
  }
  if (req.method === "GET" && path === `${OIDC}/logout`) {
    const refusal = logoutRefusal(url.searchParams);
    if (refusal) return send(res, 400, { error: "invalid_request", error_description: refusal });
    if (!url.searchParams.has("post_logout_redirect_uri")) return sendPage(res, 200, loggedOutPage());
  }
  // The rest is the mock's, at its own paths.
  toMock(req, res, req.url.slice(PREFIX.length) || "/");
});

server.listen(settings.port, "127.0.0.1", () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  issuer.url = `${base}${PREFIX}`;
  process.stdout.write(`${JSON.stringify({ url: base, issuer: issuer.url })}\n`);
});
