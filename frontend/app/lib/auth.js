// Sign-in to the gateway's issuer: OAuth 2.0 authorization code with PKCE (S256), as the
// public client `mcp-ui`; the issuer is the one the gateway's protected resource metadata
// names. Tokens live in sessionStorage (this tab only, gone when it closes) and are refreshed
// before they expire; a refresh the issuer refuses ends the session. With authentication off
// on the gateway there is nothing to sign in to.

const CLIENT_ID = "mcp-ui";
const TOKENS = "mcp-gateway.console.tokens";
const PENDING = "mcp-gateway.console.pending";
/** Refresh this long before the access token expires (at most half its lifetime). */
const EARLY_MS = 30_000;

/** The issuer's endpoints, or null when the gateway has authentication off. */
let endpoints;
let refreshing = null;
let onSignedOut = () => {};
/** Bumped when the session ends: a token answer for an older session is dropped. */
let generation = 0;

/** The console's one redirect URI; the realm allows `<origin>/ui/*`. */
function redirectUri() {
  return `${location.origin}/ui/`;
}

/**
 * Find out whether the gateway wants tokens, and from which issuer. Returns
 * `{enabled: false}` or `{enabled: true, issuer}`.
 */
export async function discover() {
  // `GET /` names the metadata document only when authentication is on.
  const about = await fetch("/");
  if (!about.ok) throw new Error(`the gateway: HTTP ${about.status}`);
  const metadataUrl = (await about.json()).endpoints?.protected_resource_metadata;
  if (!metadataUrl) {
    endpoints = null;
    return { enabled: false };
  }
  if (!window.isSecureContext) {
    // Web Crypto (PKCE) exists only on https:// and on this machine's own addresses.
    throw new Error(
      "signing in needs this console over https:// (or on localhost); open it at the gateway's public https:// address",
    );
  }
  const metadata = await fetch(metadataUrl);
  if (!metadata.ok) throw new Error(`the gateway's resource metadata: HTTP ${metadata.status}`);
  const issuer = (await metadata.json()).authorization_servers?.[0];
  if (!issuer) throw new Error("the gateway names no authorization server");
  endpoints = await issuerMetadata(issuer);
  return { enabled: true, issuer };
}

/**
 * The issuer's OIDC discovery document, checked to name the same issuer. When the issuer
 * does not let this origin read it (no CORS), the gateway's mirror of its metadata serves.
 */
async function issuerMetadata(issuer) {
  let answer;
  try {
    answer = await fetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`);
  } catch {
    answer = await fetch("/.well-known/oauth-authorization-server");
  }
  if (!answer.ok) throw new Error(`the issuer's metadata: HTTP ${answer.status}`);
  const discovery = await answer.json();
  if (discovery.issuer !== issuer) {
    throw new Error(`the issuer's discovery names ${discovery.issuer}, not ${issuer}`);
  }
  return discovery;
}

/** Called when a session ends without the user asking (refresh refused). */
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

function stored(key) {
  try {
    return JSON.parse(sessionStorage.getItem(key) ?? "null");
  } catch {
    return null;
  }
}

function base64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** A console path to come back to; anything else is the Overview. */
function consolePath(path) {
  return typeof path === "string" && path.startsWith("/ui/") ? path : "/ui/";
}

/** Go to the issuer's sign-in page; come back to `returnTo` (a console path). */
export async function signIn(returnTo) {
  const verifier = randomString();
  const state = randomString();
  const challenge = base64url(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)),
  );
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, returnTo: consolePath(returnTo) }));
  const url = new URL(endpoints.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: CLIENT_ID,
    redirect_uri: redirectUri(),
    scope: "openid",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

/**
 * Finish a sign-in when the issuer has just sent the browser back here (`?code=&state=`).
 * Returns the console path to show, or null when this load is not a return from the issuer.
 * Throws when the issuer refused or the answer does not belong to this tab's sign-in.
 */
export async function completeSignIn() {
  const query = new URLSearchParams(location.search);
  if (!query.has("state") || (!query.has("code") && !query.has("error"))) return null;
  const pending = stored(PENDING);
  sessionStorage.removeItem(PENDING);
  // The code must not stay in the address bar or the history.
  history.replaceState(null, "", location.pathname);
  // Only an answer to this tab's own request is believed, its error text included.
  if (!pending || pending.state !== query.get("state")) {
    throw new Error("this sign-in answer was not asked for by this tab; sign in again");
  }
  if (query.has("error")) {
    throw new Error(`sign-in refused: ${query.get("error_description") || query.get("error")}`);
  }
  await tokenRequest({
    grant_type: "authorization_code",
    code: query.get("code"),
    redirect_uri: redirectUri(),
    code_verifier: pending.verifier,
  });
  return consolePath(pending.returnTo);
}

/** The token endpoint refused the grant (as opposed to not being reachable). */
class Refused extends Error {}

async function tokenRequest(form) {
  const asked = generation;
  const answer = await fetch(endpoints.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: CLIENT_ID, ...form }),
  });
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok || !body.access_token) {
    const message = body.error_description || body.error || `token endpoint: HTTP ${answer.status}`;
    throw answer.status === 400 || answer.status === 401 ? new Refused(message) : new Error(message);
  }
  // Signed out while this was under way: these tokens belong to nobody.
  if (asked !== generation) return;
  const previous = stored(TOKENS);
  const lifetime = (body.expires_in ?? 60) * 1000;
  sessionStorage.setItem(
    TOKENS,
    JSON.stringify({
      access: body.access_token,
      refresh: body.refresh_token ?? previous?.refresh ?? null,
      id: body.id_token ?? previous?.id ?? null,
      expiresAt: Date.now() + lifetime,
      early: Math.min(EARLY_MS, lifetime / 2),
    }),
  );
  scheduleRefresh();
}

let timer = null;

/** Refresh silently shortly before the access token expires. */
function scheduleRefresh() {
  clearTimeout(timer);
  const tokens = stored(TOKENS);
  if (!tokens?.refresh) return;
  const wait = Math.max(0, tokens.expiresAt - Date.now() - tokens.early);
  timer = setTimeout(() => refresh().catch(() => {}), wait);
}

/**
 * One refresh at a time. A refresh the issuer refuses (or no refresh token) ends the
 * session; one that could not reach the issuer leaves it, to be tried again.
 */
export function refresh() {
  if (refreshing) return refreshing;
  const running = (async () => {
    const tokens = stored(TOKENS);
    try {
      if (!tokens?.refresh) throw new Refused("no refresh token");
      await tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refresh });
    } catch (error) {
      if (error instanceof Refused) {
        forget();
        onSignedOut(error);
      }
      throw error;
    }
  })();
  refreshing = running;
  running.catch(() => {}).finally(() => {
    if (refreshing === running) refreshing = null;
  });
  return running;
}

/** Is there a session (possibly needing a refresh)? */
export function signedIn() {
  return stored(TOKENS) !== null;
}

/** A current access token, refreshed first when it is about to expire; null when signed out. */
export async function accessToken() {
  if (endpoints === null) return null;
  let tokens = stored(TOKENS);
  if (!tokens) return null;
  if (tokens.expiresAt - Date.now() < tokens.early) {
    await refresh();
    tokens = stored(TOKENS);
  }
  if (!timer) scheduleRefresh();
  return tokens.access;
}

function forget() {
  generation += 1;
  clearTimeout(timer);
  timer = null;
  sessionStorage.removeItem(TOKENS);
}

/** Forget the tokens and end the issuer's session, coming back to the console. */
export function signOut() {
  const tokens = stored(TOKENS);
  forget();
  if (!endpoints?.end_session_endpoint) {
    location.assign("/ui/");
    return;
  }
  const url = new URL(endpoints.end_session_endpoint);
  const query = { client_id: CLIENT_ID, post_logout_redirect_uri: redirectUri() };
  if (tokens?.id) query.id_token_hint = tokens.id;
  url.search = new URLSearchParams(query).toString();
  location.assign(url.toString());
}
