// The task list: Needs you, Working, Done; live from /api/events.

import { get, liveEvents } from "./api.js";
import { age, basename, debounce, fill, h, money } from "./dom.js";
import { group, label } from "./status.js";

const GROUPS = [
  ["needs-you", "Needs you"],
  ["working", "Working"],
  ["done", "Done"],
];
const LIMIT = 200;
const OPEN = "input_required,pending,in_progress";

export function listView(root) {
  document.title = "Tasks · agentdeck";
  const sections = new Map();
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const note = h("p", { class: "muted", hidden: true });
  const empty = h(
    "p",
    { class: "empty", hidden: true },
    "No tasks yet. ",
    h("a", { href: "/new", "data-link": true }, "Start one"),
    ".",
  );
  fill(root, h("h1", {}, "Tasks"), error, empty);
  for (const [key, title] of GROUPS) {
    const count = h("span", { class: "count" });
    const list = h("ul", { class: "tasks" });
    const section = h(
      "section",
      { id: key, class: `group group-${key}`, "aria-labelledby": `${key}-title` },
      h("h2", { id: `${key}-title` }, title, " ", count),
      list,
    );
    sections.set(key, { section, list, count });
    root.append(section);
  }
  root.append(note);

  let tasks = [];
  const render = () => {
    const now = Date.now();
    for (const [key] of GROUPS) {
      const { section, list, count } = sections.get(key);
      const mine = tasks.filter((task) => group(task) === key);
      fill(count, `(${mine.length})`);
      fill(list, mine.map((task) => card(task, now)));
      section.hidden = mine.length === 0 && key !== "working";
    }
    empty.hidden = tasks.length > 0;
  };

  const refresh = async () => {
    try {
      // The newest tasks, and every open one however old, so that no decision is missed.
      const [page, open] = await Promise.all([
        get(`/api/tasks?limit=${LIMIT}`),
        get(`/api/tasks?status=${OPEN}&limit=${LIMIT}`),
      ]);
      const seen = new Set(page.tasks.map((task) => task.id));
      tasks = [...page.tasks, ...open.tasks.filter((task) => !seen.has(task.id))];
      note.hidden = !page.truncated;
      fill(note, `Done: showing those among the newest ${LIMIT} tasks.`);
      error.hidden = true;
      render();
    } catch (exc) {
      fill(error, exc.message);
      error.hidden = false;
    }
  };
  const soon = debounce(refresh, 250);
  refresh();
  const close = liveEvents({
    onEvent: (event) => {
      if (["status", "permission_request", "turn_finished"].includes(event.kind)) soon();
    },
    onOpen: soon,
  });
  const ages = setInterval(render, 30_000);
  return () => {
    close();
    clearInterval(ages);
  };
}

function card(task, now) {
  const needsYou = task.status === "input_required" || task.needs_you === true;
  const where = [basename(task.project_path), task.branch].filter(Boolean).join(" · ");
  return h(
    "li",
    { class: `task status-${task.status}`, dataset: { id: task.id } },
    h(
      "div",
      { class: "task-head" },
      h("a", { href: `/tasks/${encodeURIComponent(task.id)}`, "data-link": true, class: "task-title" }, task.title || task.id),
      needsYou ? h("span", { class: "badge needs-you" }, "needs you") : null,
    ),
    h(
      "p",
      { class: "meta" },
      h("span", { class: `pill status status-${task.status}` }, label(task.status)),
      h("span", {}, task.agent),
      where ? h("span", { class: "where", title: task.project_path ?? "" }, where) : null,
      h("time", { datetime: task.created_at, title: task.created_at }, age(task.created_at, now)),
      h("span", { class: "cost", title: "cost" }, money(task.cost_usd)),
    ),
  );
}
