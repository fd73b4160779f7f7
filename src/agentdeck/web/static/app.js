// The router: one shell for every page, chosen by location.pathname; the login gate.

import { ApiError, get, onUnauthorized, post } from "./api.js";
import { fill, go, h } from "./dom.js";
import { listView } from "./list.js";
import { newTaskView } from "./newtask.js";
import { taskView } from "./task.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
let leave = () => {};
let loginShown = false;

function route() {
  leave();
  leave = () => {};
  if (loginShown) return;
  nav.hidden = false;
  const path = location.pathname;
  const task = path.match(/^\/tasks\/([^/]+)\/?$/);
  let view;
  if (path === "/" || path === "") view = listView;
  else if (path === "/new" || path === "/new/") view = newTaskView;
  else if (task) view = (root) => taskView(root, decodeURIComponent(task[1]));
  else view = notFound;
  fill(main);
  leave = view(main) ?? (() => {});
  for (const link of nav.querySelectorAll("a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === path);
  }
}

function notFound(root) {
  document.title = "Not found · agentdeck";
  fill(root, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "/", "data-link": true }, "All tasks")));
}

function navigated() {
  route();
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

function showLogin() {
  if (loginShown) return;
  loginShown = true;
  leave();
  leave = () => {};
  nav.hidden = true;
  document.title = "Sign in · agentdeck";
  const token = h("input", {
    id: "login-token",
    type: "password",
    name: "token",
    autocomplete: "current-password",
    required: true,
    spellcheck: "false",
  });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const form = h(
    "form",
    { class: "card login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in"),
    h("p", {}, "Paste an agentdeck token (", h("code", {}, "agentdeck token create"), "), or open the link that ", h("code", {}, "agentdeck open"), " prints."),
    h("label", { for: "login-token" }, "Token"),
    token,
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      await post("/api/session", { token: token.value.trim() });
      location.reload();
    } catch (exc) {
      fill(error, exc.message);
      error.hidden = false;
    }
  });
  fill(main, form);
  token.focus();
}

async function start() {
  onUnauthorized(showLogin);
  try {
    const session = await get("/api/session");
    if (session?.login_required && !session?.authenticated) {
      showLogin();
      return;
    }
  } catch (exc) {
    // No session endpoint: no login (a 401 has already shown the login form).
    if (!(exc instanceof ApiError) || exc.status === 401) return;
    if (exc.status !== 404) console.warn("session check failed:", exc.message);
  }
  if (loginShown) return;
  route();
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-link]");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  go(link.getAttribute("href"));
});
window.addEventListener("popstate", route);
window.addEventListener("agentdeck:navigate", navigated);

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch((exc) => console.warn("no service worker:", exc));
}

start();
