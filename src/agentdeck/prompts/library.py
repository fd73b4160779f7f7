"""Prompt templates: the built-ins and user templates from ``$AGENTDECK_HOME/prompts``.

A template is a ``.md`` file named after the prompt: TOML front-matter between two
``+++`` lines, then the text::

    +++
    description = "Review a pull request"     # required
    title = "Review a PR"                     # optional

    [[arguments]]
    name = "pr_number"                        # [A-Za-z_][A-Za-z0-9_]*
    description = "The PR to review"          # optional
    required = true                           # optional, default false
    +++
    Review PR {{pr_number}}.
    {{#focus}}Pay special attention to {{focus}}.{{/focus}}

Text syntax (a tiny Mustache subset): ``{{name}}`` is the argument's value (empty when
absent); ``{{#name}}...{{/name}}`` renders only when the argument is given, non-blank and
not ``false``/``no``/``off``; ``{{^name}}...{{/name}}`` renders only when it is not. A
section tag alone on its line takes the whole line with it. Every tag must name a
declared argument, so a rendered text never contains a leftover ``{{x}}``. Any other
``{{`` (e.g. JSX ``style={{...}}``) is plain text.

User templates override built-ins of the same name; a malformed one is skipped with a
logged warning. The folder is re-read whenever its files change, so new templates show
up on the next ``prompts/list`` without a restart.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from agentdeck.config import Settings
from agentdeck.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).parent / "templates"
MAX_COMPLETIONS = 50
MAX_SCANNED = 20_000  # directory entries looked at per file completion
SKIP_DIRS = frozenset({".git", "node_modules", ".venv", "__pycache__"})
FILE_ARGUMENTS = frozenset({"file_path", "affected_files"})
CHOICES: dict[str, tuple[str, ...]] = {
    "test_framework": ("pytest", "unittest", "jest", "vitest", "mocha"),
    "component_type": ("functional", "class"),
    "styling_approach": ("css-modules", "tailwind", "styled-components", "plain-css"),
    "include_tests": ("true", "false"),
    "coverage_target": ("70", "80", "90", "95", "100"),
}
FALSY = frozenset({"false", "no", "off"})

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_PROMPT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_TAG = re.compile(
    rf"^[ \t]*\{{\{{(?P<skind>[#^/])\s*(?P<sname>{_IDENT})\s*\}}\}}[ \t]*(?:\n|\Z)"
    rf"|\{{\{{(?P<kind>[#^/]?)\s*(?P<name>{_IDENT})\s*\}}\}}",
    re.MULTILINE,
)


@dataclass(frozen=True)
class _Var:
    name: str


@dataclass(frozen=True)
class _Section:
    name: str
    inverted: bool
    body: tuple[_Node, ...]


_Node = str | _Var | _Section


def _parse_body(text: str, declared: set[str]) -> tuple[_Node, ...]:
    """The text as a node tree; `ValueError` on unbalanced sections or undeclared names."""
    stack: list[tuple[str, bool, list[_Node]]] = [("", False, [])]
    pos = 0
    for m in _TAG.finditer(text):
        stack[-1][2].append(text[pos : m.start()])
        pos = m.end()
        kind, name = (m["skind"], m["sname"]) if m["sname"] else (m["kind"], m["name"])
        if name not in declared:
            raise ValueError(
                f"{{{{{kind}{name}}}}} uses {name!r}, which is not a declared argument"
            )
        if kind in ("#", "^"):
            stack.append((name, kind == "^", []))
        elif kind == "/":
            if len(stack) == 1 or stack[-1][0] != name:
                raise ValueError(f"{{{{/{name}}}}} closes no open {{{{#{name}}}}} section")
            open_name, inverted, body = stack.pop()
            stack[-1][2].append(_Section(open_name, inverted, tuple(body)))
        else:
            stack[-1][2].append(_Var(name))
    if len(stack) > 1:
        raise ValueError(f"section {{{{#{stack[-1][0]}}}}} is never closed")
    stack[0][2].append(text[pos:])
    return tuple(n for n in stack[0][2] if n != "")


def _render_nodes(nodes: tuple[_Node, ...], values: Mapping[str, str]) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Var):
            out.append(values.get(node.name, ""))
        elif _truthy(values.get(node.name)) != node.inverted:
            out.append(_render_nodes(node.body, values))
    return "".join(out)


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in FALSY | {""}


@dataclass(frozen=True)
class TemplateArgument:
    name: str
    description: str | None = None
    required: bool = False


@dataclass(frozen=True)
class PromptTemplate:
    """One parsed template file."""

    name: str
    description: str
    arguments: tuple[TemplateArgument, ...]
    text: str
    source: Literal["builtin", "user"]
    path: Path
    title: str | None = None
    nodes: tuple[_Node, ...] = field(default=(), repr=False, compare=False)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "arguments": [
                {"name": a.name, "description": a.description, "required": a.required}
                for a in self.arguments
            ],
            "template": self.text,
            "source": self.source,
            "file": str(self.path) if self.source == "user" else None,
        }


def _check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} in {where}")


def parse_template(path: Path, source: Literal["builtin", "user"]) -> PromptTemplate:
    """Read and check one template file; `ValueError` says what is wrong with it."""
    name = path.stem
    if not _PROMPT_NAME.fullmatch(name):
        raise ValueError("file name must be letters, digits, '_' or '-' followed by .md")
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read it: {exc}") from exc
    lines = raw.split("\n")
    if not lines or lines[0].strip() != "+++":
        raise ValueError("it must start with a '+++' line (TOML front-matter)")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "+++")
    except StopIteration:
        raise ValueError("the front-matter has no closing '+++' line") from None
    try:
        meta = tomllib.loads("\n".join(lines[1:end]))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"front-matter is not valid TOML: {exc}") from exc
    _check_keys(meta, {"description", "title", "arguments"}, "the front-matter")
    description, title = meta.get("description"), meta.get("title")
    if not isinstance(description, str) or not description.strip():
        raise ValueError('front-matter needs description = "..." (a non-empty string)')
    if title is not None and not isinstance(title, str):
        raise ValueError("title must be a string")
    raw_args = meta.get("arguments", [])
    if not isinstance(raw_args, list):
        raise ValueError("arguments must be an array of tables ([[arguments]])")
    arguments: list[TemplateArgument] = []
    for i, arg in enumerate(raw_args, 1):
        where = f"argument #{i}"
        if not isinstance(arg, dict):
            raise ValueError(f"{where} must be a table ([[arguments]])")
        _check_keys(arg, {"name", "description", "required"}, where)
        arg_name, arg_desc, required = arg.get("name"), arg.get("description"), arg.get("required")
        if not isinstance(arg_name, str) or not re.fullmatch(_IDENT, arg_name):
            raise ValueError(f"{where}: name must match {_IDENT}")
        if arg_name in {a.name for a in arguments}:
            raise ValueError(f"argument {arg_name!r} is declared twice")
        if arg_desc is not None and not isinstance(arg_desc, str):
            raise ValueError(f"argument {arg_name!r}: description must be a string")
        if required is not None and not isinstance(required, bool):
            raise ValueError(f"argument {arg_name!r}: required must be true or false")
        arguments.append(TemplateArgument(arg_name, arg_desc, bool(required)))
    text = "\n".join(lines[end + 1 :]).strip("\n")
    if not text.strip():
        raise ValueError("the template text after the front-matter is empty")
    nodes = _parse_body(text, {a.name for a in arguments})
    return PromptTemplate(
        name, description.strip(), tuple(arguments), text, source, path, title, nodes
    )


def _argument_values(arguments: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in arguments.items():
        if value is None:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if text.strip():
            out[key] = text.strip()
    return out


class PromptLibrary:
    """The built-in templates plus the user's, re-read when the user folder changes."""

    def __init__(self, settings: Settings, builtin_dir: Path = BUILTIN_DIR) -> None:
        self.settings = settings
        self.user_dir = settings.home / "prompts"
        self._builtins = {
            t.name: t
            for t in (parse_template(p, "builtin") for p in sorted(builtin_dir.glob("*.md")))
        }
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._templates: dict[str, PromptTemplate] = dict(self._builtins)
        self._refresh()

    def _current_signature(self) -> tuple[tuple[str, int, int], ...]:
        sig: list[tuple[str, int, int]] = []
        for path in sorted(self.user_dir.glob("*.md")):
            try:
                st = path.stat()
            except OSError:
                continue
            sig.append((path.name, st.st_mtime_ns, st.st_size))
        return tuple(sig)

    def _refresh(self) -> None:
        signature = self._current_signature()
        if signature == self._signature:
            return
        templates = dict(self._builtins)
        for name, _, _ in signature:
            path = self.user_dir / name
            try:
                templates[path.stem] = parse_template(path, "user")
            except ValueError as exc:
                log.warning("ignoring prompt template %s: %s", path, exc)
        self._templates, self._signature = templates, signature

    def names(self) -> list[str]:
        self._refresh()
        return sorted(self._templates)

    def get(self, name: str) -> PromptTemplate:
        self._refresh()
        template = self._templates.get(name)
        if template is None:
            available = sorted(self._templates)
            raise NotFound(
                f"unknown prompt {name!r}; available prompts: {', '.join(available)}",
                {"prompt": name, "available": available},
            )
        return template

    def describe(self, name: str) -> dict[str, Any]:
        return self.get(name).describe()

    def describe_all(self) -> list[dict[str, Any]]:
        return [self.get(name).describe() for name in self.names()]

    def render(self, name: str, arguments: Mapping[str, Any]) -> str:
        """The text with ``arguments`` filled in; `InvalidInput` on missing/unknown ones."""
        template = self.get(name)
        declared = [a.name for a in template.arguments]
        values = _argument_values(arguments)
        unknown = sorted(set(arguments) - set(declared))
        missing = [a.name for a in template.arguments if a.required and a.name not in values]
        if unknown or missing:
            problems = []
            if missing:
                problems.append(f"missing required argument(s): {', '.join(missing)}")
            if unknown:
                problems.append(f"unknown argument(s): {', '.join(unknown)}")
            accepted = ", ".join(
                f"{a.name}{' (required)' if a.required else ''}" for a in template.arguments
            )
            raise InvalidInput(
                f"prompt {name!r}: {'; '.join(problems)} (arguments: {accepted or 'none'})",
                {"prompt": name, "missing": missing, "unknown": unknown, "arguments": declared},
            )
        text = _render_nodes(template.nodes, values)
        return re.sub(r"\n{3,}", "\n\n", text).strip()

    def complete(self, name: str, argument: str, partial: str) -> list[str]:
        """Suggested values for ``argument`` of prompt ``name`` starting with ``partial``."""
        template = self.get(name)
        if argument not in {a.name for a in template.arguments}:
            raise InvalidInput(
                f"prompt {name!r} has no argument {argument!r}",
                {"prompt": name, "arguments": [a.name for a in template.arguments]},
            )
        if argument in FILE_ARGUMENTS:
            # affected_files is a comma-separated list: complete its last item.
            cut = partial.rfind(",") + 1
            head, last = partial[:cut], partial[cut:]
            head += last[: len(last) - len(last.lstrip())]
            return [head + path for path in self._files(last.lstrip())]
        low = partial.lower()
        return [v for v in CHOICES.get(argument, ()) if v.lower().startswith(low)]

    def _files(self, prefix: str) -> list[str]:
        """Files under the default project whose relative path starts with ``prefix``."""
        if prefix.startswith(("/", "\\")) or ".." in PurePosixPath(prefix).parts:
            return []
        root = self.settings.project
        found: list[str] = []
        scanned = 0
        queue: deque[tuple[Path, str]] = deque([(root, "")])
        while queue and len(found) < MAX_COMPLETIONS and scanned < MAX_SCANNED:
            directory, rel_dir = queue.popleft()
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                scanned += 1
                rel = rel_dir + entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        sub = rel + "/"
                        if entry.name not in SKIP_DIRS and (
                            sub.startswith(prefix) or prefix.startswith(sub)
                        ):
                            queue.append((Path(entry.path), sub))
                    elif entry.is_file() and rel.startswith(prefix):
                        found.append(rel)
                except OSError:
                    continue
                if len(found) >= MAX_COMPLETIONS:
                    break
        return found
