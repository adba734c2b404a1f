// An OIDC issuer shaped like Keycloak, for the tests: npm's oauth2-mock-server (which signs the
// tokens, serves JWKS and discovery, and checks PKCE) under Keycloak's paths, with the realm's
// users, roles and clients added around it.
//
//   node keycloak-issuer.mjs [--port N] [--access-ttl S] [--refresh-ttl S]
//                            [--no-audience] [--no-registration]
//
// Listens on 127.0.0.1 (port 0 picks a free one) and prints one JSON line on stdout:
// {"url": "http://127.0.0.1:<port>", "issuer": "<url>/realms/mcp-gateway"}.
//
// What it adds to the mock, as Keycloak would do it:
// - realm `mcp-gateway` at /realms/mcp-gateway, endpoints under /protocol/openid-connect/;
// - users testuser/testpass (realm role user), admin/admin123 (admin); a wrong password is
//   401 invalid_grant "Invalid user credentials";
// - public clients mcp-cli (password grant, and authorization code with S256 PKCE on a
//   loopback redirect) and mcp-ui; any other client is 401 invalid_client;
// - access tokens with Keycloak's claims: aud [mcp-gateway, account] (the audience mapper;
//   --no-audience leaves it out), azp, preferred_username, realm_access, resource_access,
//   scope; exp after --access-ttl seconds;
// - refresh tokens that name their user and expire after --refresh-ttl seconds; revocation
//   makes one unusable at once;
// - a dynamic client registration endpoint (--no-registration leaves it out);
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

function options(argv) {
  const given = {
    port: 0,
    accessTtl: 300,
    refreshTtl: 1800,
    audience: true,
    registration: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === "--port") given.port = Number(argv[++i]);
    else if (flag === "--access-ttl") given.accessTtl = Number(argv[++i]);
    else if (flag === "--refresh-ttl") given.refreshTtl = Number(argv[++i]);
    else if (flag === "--no-audience") given.audience = false;
    else if (flag === "--no-registration") given.registration = false;
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

function send(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/** Keycloak refuses a public client's code flow without S256 PKCE or off its redirects. */
function authorizeRefusal(url) {
  const query = url.searchParams;
  if (!PUBLIC_CLIENTS.has(query.get("client_id"))) return "Invalid client";
  if (query.get("code_challenge_method") !== "S256") return "Missing parameter: code_challenge_method";
  const redirect = new URL(query.get("redirect_uri") ?? "relative:");
  const loopback = redirect.protocol === "http:" && redirect.hostname === "127.0.0.1";
  if (!loopback) return "Invalid parameter: redirect_uri";
  return undefined;
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
    const refusal = authorizeRefusal(url);
    if (refusal) return send(res, 400, { error: "invalid_request", error_description: refusal });
  }
  // The rest is the mock's, at its own paths.
  req.url = req.url.slice(PREFIX.length) || "/";
  service.requestHandler(req, res);
});

server.listen(settings.port, "127.0.0.1", () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  issuer.url = `${base}${PREFIX}`;
  process.stdout.write(`${JSON.stringify({ url: base, issuer: issuer.url })}\n`);
});
