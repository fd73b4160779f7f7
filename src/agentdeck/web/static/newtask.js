// The new task form: project, agent, model, prompt template, isolation, approvals.

import { get, post, withQuery } from "./api.js";
import { fill, go, h, toast } from "./dom.js";

const DRAFT = "agentdeck:new-task"; // what the user typed, kept until the task exists

export function newTaskView(root) {
  document.title = "New task · agentdeck";
  const field = (id, labelText, control, hint = null) =>
    h("div", { class: "field" }, h("label", { for: id }, labelText), control, hint ? h("p", { class: "hint muted", id: `${id}-hint` }, hint) : null);

  const project = h("select", { id: "project", name: "project_path", required: true }, h("option", { value: "" }, "Loading…"));
  const agent = h("select", { id: "agent", name: "agent" }, h("option", { value: "" }, "Loading…"));
  const model = h("input", { id: "model", name: "model", type: "text", placeholder: "the agent's default", autocomplete: "off" });
  const prompt = h("select", { id: "prompt", name: "prompt" }, h("option", { value: "" }, "None"));
  const promptArgs = h("div", { class: "prompt-args" });
  const title = h("input", { id: "title", name: "title", type: "text", required: true, maxlength: 200, autocomplete: "off" });
  const instructions = h("textarea", { id: "instructions", name: "instructions", rows: 8, required: true });
  const isolation = h(
    "select",
    { id: "isolation", name: "isolation" },
    h("option", { value: "" }, "default (a worktree in a git repository)"),
    h("option", { value: "worktree" }, "worktree: its own branch and worktree"),
    h("option", { value: "none" }, "none: in the project directory itself"),
  );
  const policy = h(
    "select",
    { id: "policy", name: "policy" },
    h("option", { value: "" }, "the server's default"),
    h("option", { value: "bypass" }, "bypass: run every tool"),
    h("option", { value: "ask" }, "ask: edits run, anything else asks you"),
    h("option", { value: "rules" }, "rules: allow and deny lists, the rest asks"),
  );
  const allowRules = h("textarea", { id: "allow_rules", name: "allow_rules", rows: 2, placeholder: "Bash(npm test:*)" });
  const denyRules = h("textarea", { id: "deny_rules", name: "deny_rules", rows: 2, placeholder: "WebFetch" });
  const rules = h("div", { class: "rules", hidden: true }, field("allow_rules", "Allowed (one rule a line)", allowRules), field("deny_rules", "Denied (one rule a line)", denyRules));
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Start task");
  const usePrompt = h("button", { type: "button", hidden: true }, "Use template");

  const form = h(
    "form",
    { class: "card new-task", "aria-labelledby": "new-title", novalidate: false },
    h("h1", { id: "new-title" }, "New task"),
    field("project", "Project", project),
    h("div", { class: "row" }, field("agent", "Agent", agent), field("model", "Model (optional)", model)),
    h("fieldset", { class: "template" }, h("legend", {}, "Prompt template (optional)"), field("prompt", "Template", prompt), promptArgs, usePrompt),
    field("title", "Title", title),
    field("instructions", "Instructions", instructions),
    h("div", { class: "row" }, field("isolation", "Isolation", isolation), field("policy", "Approval policy", policy)),
    rules,
    error,
    h("div", { class: "buttons" }, submit),
  );
  fill(root, form);

  const controls = { project, agent, model, title, instructions, isolation, policy, allow_rules: allowRules, deny_rules: denyRules };
  const saved = readDraft();
  for (const [name, control] of Object.entries(controls)) {
    if (typeof saved[name] === "string" && !(control instanceof HTMLSelectElement)) control.value = saved[name];
  }
  const keep = () => {
    const draft = {};
    for (const [name, control] of Object.entries(controls)) draft[name] = control.value;
    sessionStorage.setItem(DRAFT, JSON.stringify(draft));
  };
  form.addEventListener("input", keep);
  form.addEventListener("change", keep);
  const showRules = () => {
    rules.hidden = policy.value !== "rules";
  };
  policy.addEventListener("change", showRules);
  if (saved.isolation) isolation.value = saved.isolation;
  if (saved.policy) policy.value = saved.policy;
  showRules();

  const fail = (exc) => {
    fill(error, exc.message);
    error.hidden = false;
    error.scrollIntoView({ block: "nearest" });
  };

  loadProjects(project, saved.project).catch(fail);
  loadAgents(agent, saved.agent).catch(fail);
  let prompts = [];
  get("/api/prompts")
    .then((answer) => {
      prompts = answer.prompts;
      for (const entry of prompts) prompt.append(h("option", { value: entry.name }, entry.title || entry.name));
    })
    .catch(fail);

  prompt.addEventListener("change", () => {
    const entry = prompts.find((candidate) => candidate.name === prompt.value);
    usePrompt.hidden = !entry;
    fill(
      promptArgs,
      entry?.description ? h("p", { class: "muted" }, entry.description) : null,
      (entry?.arguments ?? []).map((argument) => {
        const id = `arg-${argument.name}`;
        const input = h("input", { id, type: "text", dataset: { arg: argument.name }, required: argument.required ? true : null, autocomplete: "off" });
        return field(id, `${argument.name}${argument.required ? "" : " (optional)"}`, input, argument.description || null);
      }),
    );
  });
  usePrompt.addEventListener("click", async () => {
    const entry = prompts.find((candidate) => candidate.name === prompt.value);
    if (!entry) return;
    const args = {};
    for (const input of promptArgs.querySelectorAll("input[data-arg]")) args[input.dataset.arg] = input.value.trim();
    if (instructions.value.trim() && !confirm("Replace the instructions you wrote with the template's text?")) return;
    try {
      const answer = await get(withQuery(`/api/prompts/${encodeURIComponent(entry.name)}`, args));
      instructions.value = answer.text;
      if (!title.value.trim()) title.value = entry.title || entry.name;
      error.hidden = true;
      keep();
      instructions.focus();
    } catch (exc) {
      fail(exc);
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const body = { title: title.value.trim(), instructions: instructions.value };
    if (project.value) body.project_path = project.value;
    if (agent.value) body.agent = agent.value;
    if (model.value.trim()) body.model = model.value.trim();
    if (isolation.value) body.isolation = isolation.value;
    if (policy.value) body.policy = policy.value;
    if (policy.value === "rules") {
      body.allow_rules = lines(allowRules.value);
      body.deny_rules = lines(denyRules.value);
    }
    submit.disabled = true;
    try {
      const task = await post("/api/tasks", body);
      sessionStorage.removeItem(DRAFT);
      toast(`Started ${task.title || task.id}.`);
      go(`/tasks/${encodeURIComponent(task.id)}`);
    } catch (exc) {
      fail(exc);
      submit.disabled = false;
    }
  });
  title.focus();
}

async function loadProjects(select, wanted) {
  const answer = await get("/api/projects");
  const projects = answer.projects ?? [];
  const roots = (answer.roots ?? []).filter((root) => !projects.some((entry) => entry.path === root));
  // What the user chose last time, else the first git repository, else the first entry.
  const chosen = wanted || projects.find((entry) => entry.git)?.path;
  const option = (path, text) => h("option", { value: path, selected: path === chosen }, text);
  fill(
    select,
    projects.length ? h("optgroup", { label: "Projects" }, projects.map((entry) => option(entry.path, `${entry.name}${entry.git ? " (git)" : ""} — ${entry.path}`))) : null,
    roots.length ? h("optgroup", { label: "Allowed roots" }, roots.map((path) => option(path, path))) : null,
  );
  if (!select.options.length) select.append(h("option", { value: "" }, "No project under the allowed roots"));
}

async function loadAgents(select, wanted) {
  const answer = await get("/api/agents");
  const names = Object.keys(answer.agents ?? {});
  fill(
    select,
    names.map((name) => {
      const info = answer.agents[name];
      const text = info.available ? `${name}${info.version ? ` ${info.version}` : ""}` : `${name} — unavailable: ${info.problem ?? "not installed"}`;
      return h("option", { value: name, disabled: !info.available, selected: wanted ? name === wanted : name === answer.default }, text);
    }),
  );
}

function readDraft() {
  try {
    return JSON.parse(sessionStorage.getItem(DRAFT) ?? "{}") ?? {};
  } catch {
    return {};
  }
}

function lines(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean);
}
