// The console: finds out whether the gateway wants a sign-in, completes one when the issuer
// sends the browser back, learns who the caller is, then shows the page the address names.
// Audit and Config are offered to the admin role only (the API refuses them to others too).
import { api } from "./lib/api.js";
import * as auth from "./lib/auth.js";
import { html, render, useEffect } from "./lib/html.js";
import { href, navigate, useRoute } from "./lib/router.js";
import { Audit } from "./pages/audit.js";
import { Config } from "./pages/config.js";
import { Connect } from "./pages/connect.js";
import { Overview } from "./pages/overview.js";
import { Server, Servers } from "./pages/servers.js";
import { Tools } from "./pages/tools.js";

const PAGES = [
  { path: "", label: "Overview" },
  { path: "servers", label: "Servers" },
  { path: "tools", label: "Tools" },
  { path: "audit", label: "Audit", admin: true },
  { path: "config", label: "Config", admin: true },
  { path: "connect", label: "Connect" },
];

function Page({ session, route }) {
  const [first, second] = route;
  const page = PAGES.find((p) => p.path === (first ?? ""));
  if (page?.admin && !session.admin) {
    return html`<h1>${page.label}</h1><p class="problem-box">The ${page.label} page is for the admin role.</p>`;
  }
  switch (first ?? "") {
    case "":
      return html`<${Overview} session=${session} />`;
    case "servers":
      return second ? html`<${Server} key=${second} name=${second} />` : html`<${Servers} />`;
    case "tools":
      return html`<${Tools} session=${session} selected=${second} />`;
    case "audit":
      return html`<${Audit} />`;
    case "config":
      return html`<${Config} />`;
    case "connect":
      return html`<${Connect} session=${session} />`;
    default:
      return html`<h1>Not found</h1><p>No console page at this address. <a href=${href()}>Overview</a></p>`;
  }
}

function Shell({ session }) {
  const route = useRoute();
  const current = PAGES.find((p) => p.path === (route[0] ?? ""));
  useEffect(() => {
    document.title = `${current?.label ?? "Not found"} · Secure MCP Gateway`;
  }, [current]);
  return html`<a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <a class="brand" href=${href()}>Secure MCP Gateway</a>
      <nav aria-label="Console">
        <ul>
          ${PAGES.filter((p) => !p.admin || session.admin).map(
            (p) => html`<li key=${p.path}><a href=${href(...(p.path ? [p.path] : []))}
              aria-current=${p === current ? "page" : undefined}>${p.label}</a></li>`,
          )}
        </ul>
      </nav>
      <div class="who">
        <span data-test="user" title=${`roles: ${session.roles.join(", ") || "none"}`}>${session.user}</span>
        ${session.authEnabled
          ? html`<button type="button" class="secondary small" onClick=${auth.signOut}>Sign out</button>`
          : html`<span class="muted small">auth off</span>`}
      </div>
    </header>
    <main id="main" tabindex="-1"><${Page} session=${session} route=${route} /></main>`;
}

function SignIn({ problem }) {
  return html`<main id="main" class="center">
    <div class="card sign-in">
      <h1>Secure MCP Gateway</h1>
      <p>Sign in to see the servers and tools you may use.</p>
      ${problem ? html`<p class="problem-box" role="alert">${problem}</p>` : null}
      <button type="button" onClick=${() =>
        auth.signIn(location.pathname).catch((error) => show(html`<${SignIn} problem=${error.message} />`))}>Sign in</button>
    </div>
  </main>`;
}

function Broken({ message }) {
  return html`<main id="main" class="center">
    <div class="card">
      <h1>The console cannot start</h1>
      <p class="problem-box" role="alert">${message}</p>
      <button type="button" onClick=${() => location.reload()}>Try again</button>
    </div>
  </main>`;
}

const root = document.getElementById("app");

/** Show `view` as the whole console (the first time, in place of the boot message). */
function show(view) {
  root.querySelector(".boot")?.remove();
  render(view, root);
}

async function start(problem) {
  let settings;
  try {
    settings = await auth.discover();
  } catch (error) {
    return show(html`<${Broken} message=${error.message} />`);
  }
  if (settings.enabled) {
    try {
      const returnTo = await auth.completeSignIn();
      if (returnTo) navigate(returnTo, { replace: true });
    } catch (error) {
      return show(html`<${SignIn} problem=${error.message} />`);
    }
    if (!auth.signedIn()) return show(html`<${SignIn} problem=${problem} />`);
  }
  try {
    const [who, about] = await Promise.all([api("/whoami"), api("/")]);
    const session = {
      authEnabled: settings.enabled,
      user: who.user,
      roles: who.roles ?? [],
      admin: (who.roles ?? []).includes("admin"),
      version: about.version,
      publicUrl: about.public_url.replace(/\/$/, ""),
    };
    show(html`<${Shell} session=${session} />`);
  } catch (error) {
    if (error.status === 401) return show(html`<${SignIn} problem="Your session ended; sign in again." />`);
    show(html`<${Broken} message=${error.message} />`);
  }
}

// A refresh the issuer refused ends the session: back to the sign-in screen.
auth.whenSignedOut(() => start("Your session ended; sign in again."));
start();
