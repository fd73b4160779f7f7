// The service worker: keeps the dashboard's shell for offline starts; never any data.
//
// Shell files are served from the network first (so an upgrade shows at once) and from
// the cache when the network fails. Everything else, above all /api, goes to the
// network untouched and is never stored.

const CACHE = "agentdeck-shell-v1";
const SHELL = [
  "/",
  "/static/style.css",
  "/static/app.js",
  "/static/api.js",
  "/static/dom.js",
  "/static/status.js",
  "/static/list.js",
  "/static/task.js",
  "/static/diff.js",
  "/static/highlight.js",
  "/static/newtask.js",
  "/static/icon.svg",
  "/static/icon-192.png",
  "/static/icon-512.png",
  "/manifest.webmanifest",
];
const PAGES = [/^\/$/, /^\/new\/?$/, /^\/tasks\/[^/]+\/?$/]; // all served by the shell "/"

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

/** The cache key of a shell request, or null for anything that is not the shell. */
function shellKey(request) {
  if (request.method !== "GET") return null;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return null;
  if (url.pathname.startsWith("/api/") || url.pathname === "/api") return null; // data: never cached
  if (PAGES.some((page) => page.test(url.pathname))) return "/";
  return SHELL.includes(url.pathname) ? url.pathname : null;
}

self.addEventListener("fetch", (event) => {
  const key = shellKey(event.request);
  if (key === null) return; // the browser fetches it as if there were no worker
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          event.waitUntil(caches.open(CACHE).then((cache) => cache.put(key, copy)));
        }
        return response;
      })
      .catch(() => caches.match(key).then((cached) => cached ?? Response.error())),
  );
});
