// A tiny line highlighter: keywords, strings, comments and numbers of common languages.

import { h } from "./dom.js";

const WORDS = {
  py: "and as assert async await break case class continue def del elif else except False finally for from global if import in is lambda match None nonlocal not or pass raise return self True try while with yield",
  js: "as async await break case catch class const continue debugger default delete do else enum export extends false finally for from function if implements import in instanceof interface let new null of private protected public readonly return static super switch this throw true try type typeof undefined var void while yield",
  go: "break case chan const continue default defer else fallthrough false for func go goto if import interface map nil package range return select struct switch true type var",
  rs: "as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait true type unsafe use where while",
  c: "auto break case char class const continue default delete do double else enum extern false float for goto if include inline int long namespace new nullptr private public return short signed sizeof static struct switch template this true typedef union unsigned using virtual void volatile while",
  java: "abstract boolean break byte case catch char class const continue default do double else enum extends false final finally float for fun if implements import instanceof int interface long new null override package private protected public return short static super switch this throw throws true try val var void while",
  sh: "case do done elif else esac exit export fi for function if in local return set then until while",
  rb: "alias and begin break case class def do else elsif end ensure false for if in module next nil not or redo rescue retry return self super then true undef unless until when while yield",
};
const LANG = {
  py: "py", pyi: "py", js: "js", mjs: "js", cjs: "js", jsx: "js", ts: "js", tsx: "js",
  go: "go", rs: "rs", c: "c", h: "c", cc: "c", cpp: "c", hpp: "c", java: "java",
  kt: "java", cs: "java", scala: "java", sh: "sh", bash: "sh", zsh: "sh", rb: "rb",
  toml: "conf", yaml: "conf", yml: "conf", ini: "conf", cfg: "conf", json: "json",
};
const HASH_COMMENTS = new Set(["py", "sh", "rb", "conf"]);
const NUMBER = String.raw`\b(?:0x[0-9a-fA-F_]+|\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?)\b`;
const STRINGS = {
  rs: String.raw`"(?:[^"\\]|\\.)*"?`,
  default: String.raw`"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|` + "`(?:[^`\\\\]|\\\\.)*`?",
};
const patterns = new Map();

/** The language of a file name, or null when it has no highlighter here. */
export function languageOf(path) {
  const name = String(path).split("/").at(-1).toLowerCase();
  if (name === "makefile" || name === "dockerfile") return "sh";
  return LANG[name.split(".").at(-1)] ?? null;
}

function pattern(lang) {
  if (!patterns.has(lang)) {
    const comment = HASH_COMMENTS.has(lang) ? "#.*" : lang === "json" ? "(?!)" : "//.*";
    const strings = STRINGS[lang] ?? STRINGS.default;
    patterns.set(lang, new RegExp(`(${comment})|(${strings})|(${NUMBER})|([A-Za-z_$][\\w$]*)`, "g"));
  }
  return patterns.get(lang);
}

/** The nodes of one line of `lang` code (plain text when `lang` is null). */
export function highlight(text, lang) {
  if (!lang) return [text];
  const words = new Set((WORDS[lang] ?? "true false null").split(" "));
  const re = pattern(lang);
  const nodes = [];
  let at = 0;
  re.lastIndex = 0;
  for (let match = re.exec(text); match; match = re.exec(text)) {
    if (match[0] === "") {
      re.lastIndex += 1;
      continue;
    }
    if (match.index > at) nodes.push(text.slice(at, match.index));
    const [, comment, string, number, word] = match;
    if (comment) nodes.push(h("span", { class: "tok-comment" }, comment));
    else if (string) nodes.push(h("span", { class: "tok-string" }, string));
    else if (number) nodes.push(h("span", { class: "tok-number" }, number));
    else if (words.has(word)) nodes.push(h("span", { class: "tok-keyword" }, word));
    else nodes.push(word);
    at = re.lastIndex;
  }
  if (at < text.length) nodes.push(text.slice(at));
  return nodes;
}
