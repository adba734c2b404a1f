// The gateway's REST API, with the signed-in user's token. Errors are thrown as ApiError,
// carrying the gateway's `{"error":{"code","message"}}`.
import { accessToken, refresh } from "./auth.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** `GET` or `POST` a path of the gateway; the parsed JSON answer. */
export async function api(path, { method = "GET", body } = {}) {
  let answer = await send(path, method, body);
  if (answer.status === 401 && (await accessToken()) !== null) {
    // The token was refused (revoked or expired early): one refresh, one retry. A 401 comes
    // before anything ran, so the retry cannot run a call twice.
    try {
      await refresh();
    } catch (error) {
      throw new ApiError(401, "unauthorized", `your session could not be renewed: ${error.message}`);
    }
    answer = await send(path, method, body);
  }
  const text = await answer.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: reported below
  }
  if (!answer.ok) {
    const error = parsed?.error ?? {};
    throw new ApiError(
      answer.status,
      error.code ?? `http_${answer.status}`,
      error.message ?? `${method} ${path}: HTTP ${answer.status}`,
    );
  }
  return parsed;
}

async function send(path, method, body) {
  const headers = { Accept: "application/json" };
  const token = await accessToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** A query string from the non-empty entries of `params`. */
export function query(params) {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return entries.length ? `?${new URLSearchParams(entries)}` : "";
}
