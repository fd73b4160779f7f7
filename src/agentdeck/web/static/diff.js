// The task's diff, highlighted, with review comments on its lines.

import { fill, h } from "./dom.js";
import { highlight, languageOf } from "./highlight.js";

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$/;

/**
 * A unified diff as files: `{path, oldPath, status, hunks: [{header, lines}]}`, each
 * line `{kind: "add"|"del"|"ctx"|"note", old, new, text}` with its line numbers.
 */
export function parseDiff(text) {
  const files = [];
  let file = null;
  let hunk = null;
  let oldLeft = 0;
  let newLeft = 0;
  let oldNo = 0;
  let newNo = 0;
  const start = (oldPath, path) => {
    file = { path, oldPath, status: "modified", hunks: [], binary: false };
    files.push(file);
    hunk = null;
  };
  for (const line of text.split("\n")) {
    if (hunk && (oldLeft > 0 || newLeft > 0)) {
      const mark = line[0];
      const body = line.slice(1);
      if (mark === "+") {
        hunk.lines.push({ kind: "add", old: null, new: newNo++, text: body });
        newLeft--;
        continue;
      }
      if (mark === "-") {
        hunk.lines.push({ kind: "del", old: oldNo++, new: null, text: body });
        oldLeft--;
        continue;
      }
      if (mark === " " || line === "") {
        hunk.lines.push({ kind: "ctx", old: oldNo++, new: newNo++, text: body });
        oldLeft--;
        newLeft--;
        continue;
      }
    }
    if (line.startsWith("\\")) {
      hunk?.lines.push({ kind: "note", old: null, new: null, text: line });
      continue;
    }
    if (line.startsWith("diff --git ")) {
      const names = line.slice("diff --git ".length);
      const split = names.lastIndexOf(" b/");
      const oldPath = split > 0 ? names.slice(0, split).replace(/^a\//, "") : names;
      start(oldPath, split > 0 ? names.slice(split + 3) : names);
      continue;
    }
    const header = line.match(HUNK);
    if (header) {
      if (!file) start("", "");
      hunk = { header: line, lines: [] };
      file.hunks.push(hunk);
      oldNo = Number(header[1]);
      oldLeft = header[2] === undefined ? 1 : Number(header[2]);
      newNo = Number(header[3]);
      newLeft = header[4] === undefined ? 1 : Number(header[4]);
      continue;
    }
    if (line.startsWith("--- ")) {
      if (!file || file.hunks.length > 0) start(stripPrefix(line.slice(4)), stripPrefix(line.slice(4)));
      if (line.slice(4) === "/dev/null") file.status = "added";
      continue;
    }
    if (line.startsWith("+++ ") && file) {
      const path = line.slice(4);
      if (path === "/dev/null") file.status = "deleted";
      else file.path = stripPrefix(path);
      continue;
    }
    if (!file) continue;
    if (line.startsWith("new file mode")) file.status = "added";
    else if (line.startsWith("deleted file mode")) file.status = "deleted";
    else if (line.startsWith("rename to ")) file.status = "renamed";
    else if (line.startsWith("Binary files ")) file.binary = true;
  }
  return files;
}

function stripPrefix(path) {
  return path.replace(/^[ab]\//, "").replace(/\t.*$/, "");
}

/**
 * The diff view with review comments.
 *
 * `comments` is the shared draft, an array of `{file, line, comment, snippet}`;
 * `onChange()` runs when a comment is added or removed.
 */
export class DiffView {
  constructor(comments, onChange) {
    this.comments = comments;
    this.onChange = onChange;
    this.files = [];
    this.el = h("div", { class: "diff-view" });
    this.composer = null;
  }

  /** Show the diff `text` (re-showing the draft comments on their lines). */
  show(text) {
    this.files = parseDiff(text ?? "");
    this.composer = null;
    if (this.files.length === 0) {
      fill(this.el, h("p", { class: "muted" }, "No changes yet."));
      return;
    }
    fill(this.el, this.files.map((file) => this.renderFile(file)));
  }

  /** The text of new-side `line` of `file`, or null. */
  snippet(file, line) {
    for (const candidate of this.files) {
      if (candidate.path !== file) continue;
      for (const hunk of candidate.hunks) {
        for (const row of hunk.lines) if (row.new === line) return row.text;
      }
    }
    return null;
  }

  renderFile(file) {
    const lang = languageOf(file.path);
    let added = 0;
    let removed = 0;
    const body = h("tbody");
    for (const hunk of file.hunks) {
      body.append(h("tr", { class: "hunk" }, h("td", { colspan: 3 }, hunk.header)));
      for (const row of hunk.lines) {
        if (row.kind === "add") added++;
        if (row.kind === "del") removed++;
        body.append(this.renderLine(file, row, lang));
        for (const comment of this.comments) {
          if (comment.file === file.path && comment.line === row.new && row.kind !== "del") {
            body.append(this.noteRow(comment));
          }
        }
      }
    }
    const stats = h("span", { class: "diff-stats" }, h("span", { class: "add" }, `+${added}`), " ", h("span", { class: "del" }, `−${removed}`));
    return h(
      "section",
      { class: "diff-file", dataset: { path: file.path } },
      h("h3", {}, h("code", {}, file.path || file.oldPath), " ", file.status === "modified" ? null : h("span", { class: "pill" }, file.status), " ", stats),
      file.binary
        ? h("p", { class: "muted" }, "Binary file.")
        : h("div", { class: "diff-scroll" }, h("table", { class: "diff" }, body)),
    );
  }

  renderLine(file, row, lang) {
    const sign = { add: "+", del: "-", ctx: " ", note: "" }[row.kind];
    const code = h("td", { class: "code" }, h("span", { class: "sign", "aria-hidden": "true" }, sign), row.kind === "note" ? row.text : highlight(row.text, lang));
    const commentable = row.new !== null && row.kind !== "note";
    const tr = h(
      "tr",
      { class: `line ${row.kind}`, dataset: commentable ? { line: row.new } : {} },
      h("td", { class: "ln old" }, row.old ?? ""),
      h(
        "td",
        { class: "ln new" },
        commentable
          ? h("button", { type: "button", class: "ln-button", "aria-label": `Comment on ${file.path} line ${row.new}`, onclick: () => this.compose(file, row, tr) }, String(row.new))
          : "",
      ),
      code,
    );
    if (commentable) code.addEventListener("click", () => this.compose(file, row, tr));
    return tr;
  }

  compose(file, row, tr) {
    if (this.composer) {
      const open = this.composer;
      this.composer = null;
      open.remove();
      if (open.dataset.for === `${file.path}:${row.new}`) return;
    }
    const id = `comment-${Math.random().toString(36).slice(2)}`;
    const text = h("textarea", { id, rows: 3, required: true });
    const cell = h(
      "form",
      { class: "composer" },
      h("label", { for: id }, `Comment on ${file.path} line ${row.new}`),
      text,
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Add comment"), h("button", { type: "button", onclick: () => close() }, "Cancel")),
    );
    const composer = h("tr", { class: "composer-row", dataset: { for: `${file.path}:${row.new}` } }, h("td", { colspan: 3 }, cell));
    const close = () => {
      composer.remove();
      this.composer = null;
      tr.querySelector("button")?.focus();
    };
    cell.addEventListener("submit", (event) => {
      event.preventDefault();
      const comment = text.value.trim();
      if (!comment) return;
      const entry = { file: file.path, line: row.new, comment, snippet: row.text };
      this.comments.push(entry);
      composer.replaceWith(this.noteRow(entry));
      this.composer = null;
      tr.querySelector("button")?.focus();
      this.onChange();
    });
    tr.after(composer);
    this.composer = composer;
    text.focus();
  }

  noteRow(comment) {
    return h("tr", { class: "note-row" }, h("td", { colspan: 3 }, h("div", { class: "note" }, h("strong", {}, "Your comment: "), comment.comment)));
  }
}
