// The REST API (docs/rest.md): JSON in and out, CSRF header, errors, and live events.

/** An error answer: `{"error": {"type", "message", "details"}}`. */
export class ApiError extends Error {
  constructor(status, type, message, details) {
    super(message);
    this.status = status;
    this.type = type;
    this.details = details ?? {};
  }
}

let unauthorized = () => {};
/** `fn` runs when any call is answered 401 (the session is missing or expired). */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

/** Calls `method path` with the JSON `body`; the parsed answer, or throws `ApiError`. */
export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") {
    const csrf = cookie("agentdeck_csrf");
    if (csrf) headers["X-Agentdeck-CSRF"] = csrf;
  }
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "agentdeck cannot be reached; is the server running?");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data?.error ?? {};
    if (response.status === 401) unauthorized();
    throw new ApiError(
      response.status,
      error.type ?? "http_error",
      error.message ?? `${response.status} ${response.statusText}`,
      error.details,
    );
  }
  return data;
}

export const get = (path) => call("GET", path);
export const post = (path, body = {}) => call("POST", path, body);

/** `path` with the query parameters that are not null or empty. */
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/**
 * Live events from `GET /api/events` (for one task when `task` is given).
 *
 * `onEvent(event)` gets every event; `onOpen()` runs each time the stream (re)connects,
 * so that the caller can catch up on what it may have missed. The browser resumes a
 * dropped stream by itself with `Last-Event-ID`; a refused one is retried here, after
 * the last event seen. Returns a function that closes the stream.
 */
export function liveEvents({ task = null, onEvent, onOpen = () => {} }) {
  let source = null;
  let lastId = null;
  let retry = 0;
  let closed = false;

  const open = () => {
    source = new EventSource(withQuery("/api/events", { task, after: lastId }));
    source.onopen = () => onOpen();
    source.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (typeof event.id === "number") lastId = event.id;
      onEvent(event);
    };
    source.onerror = () => {
      if (closed || source.readyState !== EventSource.CLOSED) return;
      // Refused (a 401, a restart): check the session, then try again a little later.
      get("/api/pending").catch(() => {});
      retry = setTimeout(open, 3000);
    };
  };
  open();
  return () => {
    closed = true;
    clearTimeout(retry);
    source?.close();
  };
}
