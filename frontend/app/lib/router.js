// Page addresses under /ui/ (`/ui/tools/<name>`): the browser's history, and one listener
// that turns clicks on console links into page changes without a reload.
import { useEffect, useState } from "./html.js";

const BASE = "/ui/";

/** The current console path without /ui/, split: `/ui/servers/a` → ["servers", "a"]. */
function current() {
  const rest = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : "";
  return rest.split("/").filter(Boolean).map(decoded);
}

/** A path segment as text; a malformed escape stays as written. */
function decoded(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const listeners = new Set();

/** Show another console page (`href` like "/ui/tools"). */
export function navigate(href, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  for (const listener of listeners) listener();
  window.scrollTo(0, 0);
}

/** A console link: `/ui/` plus the encoded parts. */
export function href(...parts) {
  return BASE + parts.map(encodeURIComponent).join("/");
}

/** The current route's parts, re-rendering on navigation. */
export function useRoute() {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    listeners.add(update);
    window.addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      window.removeEventListener("popstate", update);
    };
  }, []);
  return route;
}

// Plain clicks on links to console pages change the page in place; modified clicks (a new
// tab), links within this page (`#main`), files and links elsewhere keep the browser's
// behaviour.
document.addEventListener("click", (event) => {
  const link = event.target.closest?.("a[href]");
  if (!link || link.target || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  if (link.hasAttribute("download")) return;
  const url = new URL(link.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
  if (url.hash && url.pathname === location.pathname) return;
  if (/\.[A-Za-z0-9]+$/.test(url.pathname)) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});
