// The task page: conversation (live), approvals, actions, facts, timeline, diff and review.

import { get, liveEvents, post } from "./api.js";
import { age, basename, countdown, debounce, fill, h, money, toast, when } from "./dom.js";
import { DiffView } from "./diff.js";
import { ACTIVE, TERMINAL, label } from "./status.js";

const PAGE = 200;

export function taskView(root, id) {
  const base = `/api/tasks/${encodeURIComponent(id)}`;
  const page = new TaskPage(root, id, base);
  const close = liveEvents({
    task: id,
    onEvent: (event) => {
      if (event.task_id === id) page.accept(event);
    },
    onOpen: () => page.catchUp(),
  });
  page.start();
  return () => {
    close();
    page.closed = true;
  };
}

class TaskPage {
  constructor(root, id, base) {
    this.id = id;
    this.base = base;
    this.closed = false;
    this.next = 1; // the seq of the next event to show
    this.early = new Map(); // events that arrived before the ones before them
    this.calls = new Map(); // tool_call id -> its output box
    this.syncing = null;
    this.again = false;
    this.detail = null;
    this.caughtUp = false; // the history is shown: from now on, new events follow the reader
    this.draft = [];
    this.diffText = "";

    this.title = h("h1", { class: "task-title" }, id);
    this.status = h("span", { class: "pill status" });
    this.badge = h("span", { class: "badge needs-you", hidden: true }, "needs you");
    this.error = h("p", { class: "error", role: "alert", hidden: true });
    this.approval = h("section", { id: "approval", class: "card approval", "aria-labelledby": "approval-title", hidden: true });
    this.conversation = h("ol", { class: "conversation", "aria-live": "polite", "aria-relevant": "additions" });
    this.facts = h("dl", { class: "facts" });
    this.timeline = h("ol", { class: "timeline" });
    this.actions = this.actionBar();
    this.continueForm = this.continueBox();
    this.diff = new DiffView(this.draft, () => this.renderReview());
    this.review = this.reviewBox();

    fill(
      root,
      h("p", { class: "back" }, h("a", { href: "/", "data-link": true }, "← All tasks")),
      h("header", { class: "task-header" }, this.title, h("p", { class: "task-status" }, this.status, " ", this.badge)),
      this.error,
      this.approval,
      h(
        "div",
        { class: "task-grid" },
        h(
          "div",
          { class: "task-main" },
          h("section", { id: "conversation", "aria-labelledby": "conversation-title" }, h("h2", { id: "conversation-title" }, "Conversation"), this.conversation),
          this.continueForm,
        ),
        h(
          "aside",
          { class: "task-side" },
          h("section", { class: "card", "aria-labelledby": "actions-title" }, h("h2", { id: "actions-title" }, "Actions"), this.actions),
          h("section", { class: "card", "aria-labelledby": "facts-title" }, h("h2", { id: "facts-title" }, "Cost and details"), this.facts),
          h("section", { class: "card", "aria-labelledby": "timeline-title" }, h("h2", { id: "timeline-title" }, "Status timeline"), this.timeline),
        ),
      ),
      h(
        "section",
        { id: "diff", "aria-labelledby": "diff-title" },
        h("h2", { id: "diff-title" }, "Diff and review"),
        h("p", { class: "muted hint" }, "Select a line number (or a line) to comment on it; send every comment at once as one review."),
        this.diff.el,
        this.review,
      ),
    );
    this.renderReview();
    this.refreshSoon = debounce(() => this.refresh(), 250);
    this.diffSoon = debounce(() => this.loadDiff(), 400);
    this.pendingSoon = debounce(() => this.loadPending(), 150);
  }

  start() {
    this.refresh().then(() => this.loadDiff());
    this.catchUp();
    this.loadPending();
  }

  fail(exc) {
    fill(this.error, exc.message);
    this.error.hidden = false;
  }

  // ---- task document -------------------------------------------------------

  async refresh() {
    try {
      this.show(await get(this.base));
    } catch (exc) {
      this.fail(exc);
    }
  }

  show(task) {
    if (this.closed) return;
    this.detail = task;
    this.error.hidden = true;
    fill(this.title, task.title || task.id);
    document.title = `${task.title || task.id} · agentdeck`;
    fill(this.status, label(task.status));
    this.status.className = `pill status status-${task.status}`;
    this.badge.hidden = !(task.status === "input_required" || task.needs_you === true);
    const git = task.git;
    const rows = [
      ["Status", label(task.status)],
      task.status_reason ? ["Why", task.status_reason] : null,
      task.resume_at ? ["Resumes", h("time", { datetime: task.resume_at, title: when(task.resume_at) }, countdown(task.resume_at))] : null,
      ["Agent", task.model ? `${task.agent} (${task.model})` : task.agent],
      ["Project", h("span", { title: task.project_path }, basename(task.project_path))],
      git ? ["Branch", `${git.branch} → ${git.base_branch}${git.merged ? " (merged)" : ""}`] : null,
      git ? ["Changes", `${git.diff.files} file${git.diff.files === 1 ? "" : "s"}, +${git.diff.insertions} −${git.diff.deletions}`] : null,
      ["Cost", money(task.cost_usd)],
      ["Tokens", `${task.input_tokens ?? 0} in · ${task.output_tokens ?? 0} out · ${task.cache_read_tokens ?? 0} cache read`],
      ["Turns", String(task.turns ?? 0)],
      ["Created", h("time", { datetime: task.created_at, title: when(task.created_at) }, age(task.created_at))],
      task.duration_human ? ["Duration", task.duration_human] : null,
    ].filter(Boolean);
    fill(this.facts, rows.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
    this.enable(task);
  }

  // ---- actions -------------------------------------------------------------

  actionBar() {
    this.buttons = {
      cancel: h("button", { type: "button", class: "danger", onclick: () => this.act("cancel", "Cancel this task? Its running turn stops.") }, "Cancel"),
      end: h("button", { type: "button", onclick: () => this.act("end", "End this task? Its conversation cannot be continued.") }, "End"),
      merge: h("button", { type: "button", class: "primary", onclick: () => this.merge() }, "Merge"),
      discard: h("button", { type: "button", class: "danger", onclick: () => this.act("discard", "Discard this task's branch and worktree? The work is lost.") }, "Discard"),
    };
    this.strategy = h(
      "select",
      { id: "merge-strategy" },
      h("option", { value: "merge" }, "merge commit"),
      h("option", { value: "squash" }, "squash"),
      h("option", { value: "rebase" }, "rebase"),
    );
    return h(
      "div",
      { class: "actions" },
      h("div", { class: "buttons" }, this.buttons.end, this.buttons.cancel),
      h("div", { class: "buttons" }, h("label", { for: "merge-strategy", class: "inline" }, "Merge as"), this.strategy, this.buttons.merge, this.buttons.discard),
    );
  }

  enable(task) {
    const active = ACTIVE.has(task.status);
    const done = TERMINAL.has(task.status);
    const git = task.git;
    this.buttons.cancel.disabled = done;
    this.buttons.end.disabled = done;
    this.buttons.merge.disabled = !git || git.merged || active;
    this.strategy.disabled = this.buttons.merge.disabled;
    this.buttons.discard.disabled = !git || active;
    this.continueButton.disabled = done;
    fill(this.continueHint, done ? `The task is ${label(task.status)}; it cannot be continued.` : active ? "Runs after the current turn." : "");
  }

  async act(action, question) {
    if (!confirm(question)) return;
    try {
      this.show(await post(`${this.base}/${action}`));
      toast(`${action[0].toUpperCase()}${action.slice(1)}: done.`);
      this.diffSoon();
    } catch (exc) {
      toast(exc.message, "error");
      this.refreshSoon();
    }
  }

  async merge() {
    const git = this.detail?.git;
    if (!git || !confirm(`Merge ${git.branch} into ${git.base_branch}?`)) return;
    try {
      this.show(await post(`${this.base}/merge`, { strategy: this.strategy.value }));
      toast(`Merged into ${git.base_branch}.`);
    } catch (exc) {
      toast(exc.message, "error");
    }
  }

  continueBox() {
    const text = h("textarea", { id: "continue-text", rows: 3, required: true, placeholder: "What should the agent do next?" });
    this.continueButton = h("button", { type: "submit", class: "primary" }, "Continue");
    this.continueHint = h("span", { class: "muted" });
    const error = h("p", { class: "error", role: "alert", hidden: true });
    const form = h(
      "form",
      { class: "card continue", "aria-labelledby": "continue-title" },
      h("h2", { id: "continue-title" }, h("label", { for: "continue-text" }, "Continue the conversation")),
      text,
      error,
      h("div", { class: "buttons" }, this.continueButton, this.continueHint),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const instructions = text.value.trim();
      if (!instructions) return;
      error.hidden = true;
      this.continueButton.disabled = true;
      try {
        const answer = await post(`${this.base}/continue`, { instructions });
        text.value = "";
        this.show(answer.task);
        toast(answer.queued ? "Queued: it runs after the current turn." : "Sent to the agent.");
      } catch (exc) {
        fill(error, exc.message);
        error.hidden = false;
        this.refreshSoon();
      } finally {
        if (this.detail) this.enable(this.detail);
      }
    });
    return form;
  }

  // ---- approvals -----------------------------------------------------------

  async loadPending() {
    try {
      const answer = await get("/api/pending");
      this.showPending(answer.pending.filter((entry) => entry.task_id === this.id));
    } catch (exc) {
      this.fail(exc);
    }
  }

  showPending(entries) {
    if (this.closed) return;
    this.approval.hidden = entries.length === 0;
    if (entries.length === 0) {
      this.approval.replaceChildren();
      return;
    }
    fill(
      this.approval,
      h("h2", { id: "approval-title" }, entries.length === 1 ? "The agent asks for your decision" : `${entries.length} decisions wait for you`),
      entries.map((entry) => this.decision(entry)),
    );
  }

  decision(entry) {
    const messageId = `deny-message-${entry.request_id}`;
    const message = h("input", { id: messageId, type: "text", placeholder: "Optional: why, or what to do instead" });
    const decide = async (decision, buttons) => {
      for (const button of buttons) button.disabled = true;
      const body = { decision, request_id: entry.request_id };
      if (decision === "deny" && message.value.trim()) body.message = message.value.trim();
      try {
        await post(`${this.base}/respond`, body);
        toast(`${decision === "deny" ? "Denied" : "Allowed"}: ${entry.tool}.`);
      } catch (exc) {
        toast(exc.message, "error");
      }
      this.loadPending();
      this.refreshSoon();
    };
    const allow = h("button", { type: "button", class: "primary" }, "Allow");
    const deny = h("button", { type: "button", class: "danger" }, "Deny");
    const always = h("button", { type: "button" }, "Always allow");
    const all = [allow, deny, always];
    allow.addEventListener("click", () => decide("allow", all));
    deny.addEventListener("click", () => decide("deny", all));
    always.addEventListener("click", () => decide("allow_always", all));
    return h(
      "div",
      { class: "decision", dataset: { request: entry.request_id } },
      h("p", {}, h("strong", {}, entry.tool), entry.summary ? ` — ${entry.summary}` : ""),
      h("details", { open: true }, h("summary", {}, "Input"), h("pre", { class: "code-block" }, pretty(entry.input))),
      h("label", { for: messageId }, "Message with a denial (optional)"),
      message,
      h("div", { class: "buttons" }, allow, deny, always),
    );
  }

  // ---- diff and review -----------------------------------------------------

  async loadDiff() {
    if (!this.detail) return;
    if (!this.detail.git) {
      fill(this.diff.el, h("p", { class: "muted" }, "This task works in the project directory itself (no branch of its own), so there is no diff to review."));
      return;
    }
    try {
      const answer = await get(`${this.base}/diff`);
      if (this.closed || answer.diff === this.diffText) return;
      this.diffText = answer.diff;
      this.diff.show(answer.diff);
    } catch (exc) {
      fill(this.diff.el, h("p", { class: "error" }, exc.message));
    }
  }

  reviewBox() {
    this.reviewList = h("div", { class: "comments-box" });
    this.reviewSend = h("button", { type: "submit", class: "primary" }, "Send review");
    this.reviewSent = h("div", { class: "sent", "aria-live": "polite" });
    const message = h("textarea", { id: "review-message", rows: 2, placeholder: "Optional: a note with the review" });
    const error = h("p", { class: "error", role: "alert", hidden: true });
    const form = h(
      "form",
      { class: "card review-form", "aria-labelledby": "review-title" },
      h("h3", { id: "review-title" }, "Review comments"),
      this.reviewList,
      h("label", { for: "review-message" }, "Note (optional)"),
      message,
      error,
      h("div", { class: "buttons" }, this.reviewSend),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (this.draft.length === 0) return;
      error.hidden = true;
      this.reviewSend.disabled = true;
      const comments = this.draft.map(({ file, line, comment, snippet }) => ({ file, line, comment, snippet }));
      const body = message.value.trim() ? { comments, message: message.value.trim() } : { comments };
      try {
        const answer = await post(`${this.base}/review`, body);
        this.draft.length = 0;
        message.value = "";
        this.show(answer.task);
        this.diff.show(this.diffText);
        this.showSent(answer.comments);
        toast(answer.queued ? "Review queued: it goes after the current turn." : "Review sent to the agent.");
      } catch (exc) {
        fill(error, exc.message);
        error.hidden = false;
      }
      this.renderReview();
    });
    return h("div", { class: "review" }, form, this.reviewSent);
  }

  /** The draft comments and the Send button. */
  renderReview() {
    const items = this.draft.map((comment, index) =>
      h(
        "li",
        {},
        h("code", {}, `${comment.file}:${comment.line}`),
        " ",
        comment.comment,
        " ",
        h(
          "button",
          {
            type: "button",
            class: "link",
            "aria-label": `Remove the comment on ${comment.file} line ${comment.line}`,
            onclick: () => {
              this.draft.splice(index, 1);
              this.diff.show(this.diffText);
              this.renderReview();
            },
          },
          "Remove",
        ),
      ),
    );
    fill(this.reviewList, items.length ? h("ol", { class: "comments" }, items) : h("p", { class: "muted" }, "No comments yet."));
    this.reviewSend.disabled = this.draft.length === 0;
    fill(this.reviewSend, this.draft.length ? `Send review (${this.draft.length})` : "Send review");
  }

  /** The comments of the review just sent, those whose line has moved marked. */
  showSent(comments) {
    fill(
      this.reviewSent,
      h(
        "div",
        { class: "card" },
        h("h3", {}, "Sent"),
        h(
          "ol",
          { class: "comments" },
          comments.map((comment) =>
            h(
              "li",
              { class: comment.moved ? "moved" : "" },
              h("code", {}, `${comment.file}:${comment.line}`),
              " ",
              comment.comment,
              " ",
              comment.moved ? h("span", { class: "badge warn" }, "line has moved") : null,
            ),
          ),
        ),
      ),
    );
  }

  // ---- events --------------------------------------------------------------

  /** Show `event` in seq order: once, after every event before it. */
  accept(event) {
    if (this.closed || event.seq < this.next) return;
    if (event.seq > this.next) {
      this.early.set(event.seq, event);
      this.catchUp();
      return;
    }
    this.render(event);
    this.next += 1;
    while (this.early.has(this.next)) {
      const later = this.early.get(this.next);
      this.early.delete(this.next);
      this.render(later);
      this.next += 1;
    }
  }

  /** Read the history after the last event shown, page by page (one reader at a time). */
  catchUp() {
    if (this.syncing) {
      this.again = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      do {
        this.again = false;
        for (let more = true; more && !this.closed; ) {
          const answer = await get(`${this.base}/events?after=${this.next - 1}&limit=${PAGE}`);
          const first = answer.events[0];
          if (first && first.seq > this.next) this.next = first.seq; // the store's own gap
          for (const event of answer.events) this.accept(event);
          more = answer.more && answer.events.length > 0;
        }
      } while (this.again && !this.closed);
      this.caughtUp = true;
    })()
      .catch((exc) => this.fail(exc))
      .finally(() => {
        this.syncing = null;
      });
    return this.syncing;
  }

  render(event) {
    const data = event.data ?? {};
    const item = this.item(event, data);
    if (item) {
      item.dataset.seq = event.seq;
      const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
      this.conversation.append(item);
      if (this.caughtUp && atBottom) item.scrollIntoView({ block: "nearest" });
    }
    if (event.kind === "status") this.timelineEntry(event, data);
    if (["status", "turn_finished", "usage", "log"].includes(event.kind)) this.refreshSoon();
    if (["status", "turn_finished", "tool_result", "log"].includes(event.kind)) this.diffSoon();
    if (["status", "permission_request"].includes(event.kind)) this.pendingSoon();
  }

  item(event, data) {
    switch (event.kind) {
      case "turn_started":
        return h("li", { class: "turn" }, h("p", { class: "turn-label" }, `Turn ${event.turn}`), h("div", { class: "bubble user" }, h("span", { class: "who" }, "You"), h("p", { class: "text" }, String(data.instructions ?? ""))));
      case "message":
        return h("li", { class: `bubble ${data.role === "user" ? "user" : "assistant"}` }, h("span", { class: "who" }, data.role === "user" ? "You" : "Agent"), h("p", { class: "text" }, String(data.text ?? "")));
      case "tool_call": {
        const output = h("div", { class: "tool-output" }, h("p", { class: "muted" }, "Running…"));
        const summary = h("summary", {}, h("span", { class: "tool-name" }, String(data.name ?? "tool")), " ", h("span", { class: "tool-brief" }, brief(data.input)));
        const details = h("details", { class: "tool" }, summary, h("h4", {}, "Input"), h("pre", { class: "code-block" }, pretty(data.input)), h("h4", {}, "Output"), output);
        const li = h("li", { class: "tool-call" }, details);
        if (data.id) this.calls.set(data.id, { li, output, summary });
        return li;
      }
      case "tool_result": {
        const call = data.id ? this.calls.get(data.id) : null;
        const text = h("pre", { class: "code-block" }, pretty(data.output ?? ""));
        if (!call) return h("li", { class: `tool-call ${data.is_error ? "error" : ""}` }, h("details", { class: "tool" }, h("summary", {}, "Tool output"), text));
        fill(call.output, text);
        if (data.is_error) {
          call.li.classList.add("error");
          call.summary.append(h("span", { class: "badge error" }, "error"));
        }
        return null;
      }
      case "permission_request":
        return h("li", { class: "note ask" }, `The agent asks to use ${data.tool ?? "a tool"}`, data.summary ? `: ${data.summary}` : "", ".");
      case "turn_finished":
        if (data.success === false) {
          return h("li", { class: "note error" }, h("strong", {}, `Turn ${event.turn} failed: `), String(data.error ?? data.result_text ?? "unknown error"));
        }
        return h("li", { class: "note done" }, `Turn ${event.turn} finished`, typeof data.cost_usd === "number" ? ` · ${money(data.cost_usd)}` : "", data.duration_ms ? ` · ${(data.duration_ms / 1000).toFixed(1)} s` : "");
      case "stderr":
        if (data.notice) return this.notice(String(data.line ?? ""));
        return h("li", { class: "note error stderr" }, h("span", { class: "who" }, "stderr "), h("code", {}, String(data.line ?? data.text ?? "")));
      case "status":
        if (data.to === "failed") return h("li", { class: "note error" }, h("strong", {}, "Failed"), data.reason ? `: ${data.reason}` : "");
        if (data.to === "pending" || data.to === "in_progress") return null;
        return h("li", { class: `note status status-${data.to}` }, `${label(data.to)}${data.reason ? ` (${data.reason})` : ""}`);
      case "log":
        return h("li", { class: "note log" }, String(data.text ?? ""));
      default:
        return null;
    }
  }

  /** A harmless agent line (a banner, a terminal warning), folded with the notices
   * just before it into one closed group; null when it joined the last group. */
  notice(line) {
    const last = this.conversation.lastElementChild;
    const group = last?.classList.contains("notices") ? last : null;
    const entry = h("li", {}, h("code", {}, line));
    if (group) {
      group.querySelector("ul").append(entry);
      const count = group.querySelectorAll("ul > li").length;
      group.querySelector("summary").textContent = `${count} agent notices`;
      return null;
    }
    return h("li", { class: "note notices" }, h("details", {}, h("summary", {}, "1 agent notice"), h("ul", {}, entry)));
  }

  timelineEntry(event, data) {
    this.timeline.append(
      h(
        "li",
        { class: `status-${data.to}` },
        h("span", { class: `pill status status-${data.to}` }, label(data.to)),
        " ",
        h("time", { datetime: event.ts ?? event.at, title: when(event.ts ?? event.at) }, new Date(event.ts ?? event.at).toLocaleTimeString()),
        data.reason ? h("span", { class: "muted" }, ` ${data.reason}`) : null,
      ),
    );
  }
}

function pretty(value) {
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

function brief(input) {
  if (!input || typeof input !== "object") return String(input ?? "");
  const first = input.command ?? input.file_path ?? input.path ?? input.pattern ?? input.url ?? Object.values(input)[0];
  const text = typeof first === "string" ? first : JSON.stringify(first ?? "");
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}
