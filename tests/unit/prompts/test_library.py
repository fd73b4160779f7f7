"""The prompt library: render, errors, user templates, completion."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agentdeck.config import Settings
from agentdeck.errors import InvalidInput, NotFound
from agentdeck.prompts import BUILTIN_DIR, MAX_COMPLETIONS, PromptLibrary, parse_template
from support.prompts import BUILTINS, REVIEW, write_user


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def lib_settings(home: Path, project: Path) -> Settings:
    return Settings(home=home, roots=[project])


# --- the library ------------------------------------------------------------------------


def test_builtins_are_the_contract_prompts(lib_settings: Settings) -> None:
    lib = PromptLibrary(lib_settings)
    assert set(lib.names()) == BUILTINS
    args = {
        d["name"]: [(a["name"], a["required"]) for a in d["arguments"]] for d in lib.describe_all()
    }
    assert args == {
        "fix_bug": [
            ("bug_description", True),
            ("error_message", False),
            ("affected_files", False),
            ("reproduction_steps", False),
        ],
        "create_unit_tests": [
            ("file_path", True),
            ("test_framework", False),
            ("coverage_target", False),
        ],
        "create_react_component": [
            ("component_name", True),
            ("description", True),
            ("component_type", False),
            ("styling_approach", False),
            ("include_tests", False),
        ],
    }
    described = lib.describe("fix_bug")
    assert described["source"] == "builtin"
    assert "{{bug_description}}" in described["template"]
    assert described["description"]


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtins_render_without_leftover_tags(lib_settings: Settings, name: str) -> None:
    lib = PromptLibrary(lib_settings)
    template = lib.get(name)
    required = {a.name: f"<{a.name}>" for a in template.arguments if a.required}
    everything = {a.name: f"<{a.name}>" for a in template.arguments}
    for arguments in (required, everything):
        text = lib.render(name, arguments)
        assert "{{" not in text and "}}" not in text
        assert "\n\n\n" not in text
        for value in required.values():
            assert value in text


def test_sections_render_only_when_argument_given(lib_settings: Settings) -> None:
    lib = PromptLibrary(lib_settings)
    bare = lib.render("fix_bug", {"bug_description": "login fails"})
    assert "login fails" in bare
    assert "## Error message" not in bare
    full = lib.render("fix_bug", {"bug_description": "login fails", "error_message": "KeyError"})
    assert "## Error message\n\n```\nKeyError\n```" in full
    # "false" switches a section off; "true" on.
    base = {"component_name": "Avatar", "description": "shows a picture"}
    off = lib.render("create_react_component", {**base, "include_tests": "false"})
    on = lib.render("create_react_component", {**base, "include_tests": "true"})
    assert "## Tests" not in off and "## Tests" in on
    # inverted sections give defaults
    assert "functional component" in lib.render("create_react_component", base)
    assert "a class component" in lib.render(
        "create_react_component", {**base, "component_type": "class"}
    )


def test_missing_required_argument_is_invalid_input(lib_settings: Settings) -> None:
    lib = PromptLibrary(lib_settings)
    with pytest.raises(InvalidInput) as err:
        lib.render("create_react_component", {"component_name": "X", "description": "  "})
    assert "missing required argument(s): description" in err.value.message
    assert "component_name (required)" in err.value.message  # lists the arguments
    assert err.value.details["missing"] == ["description"]


def test_unknown_argument_is_invalid_input(lib_settings: Settings) -> None:
    lib = PromptLibrary(lib_settings)
    with pytest.raises(InvalidInput, match="unknown argument\\(s\\): colour"):
        lib.render("fix_bug", {"bug_description": "b", "colour": "red"})


def test_unknown_prompt_lists_names(lib_settings: Settings) -> None:
    lib = PromptLibrary(lib_settings)
    with pytest.raises(NotFound) as err:
        lib.get("nope")
    assert "fix_bug" in err.value.message
    assert set(err.value.details["available"]) == BUILTINS


def test_user_template_added_and_rendered(lib_settings: Settings, home: Path) -> None:
    lib = PromptLibrary(lib_settings)
    assert "review" not in lib.names()
    write_user(home, "review", REVIEW)  # after start-up: picked up on the next call
    assert "review" in lib.names()
    assert lib.render("review", {"pr_number": "7"}) == "Review PR #7.\nReview everything.\nDone."
    assert lib.render("review", {"pr_number": "7", "focus": "tests"}) == (
        "Review PR #7.\nFocus on tests.\nDone."
    )
    assert lib.describe("review")["source"] == "user"


def test_user_template_overrides_builtin(lib_settings: Settings, home: Path) -> None:
    write_user(home, "fix_bug", '+++\ndescription = "Mine"\n+++\nJust fix it.\n')
    lib = PromptLibrary(lib_settings)
    assert lib.describe("fix_bug")["description"] == "Mine"
    assert lib.render("fix_bug", {}) == "Just fix it."
    (home / "prompts" / "fix_bug.md").unlink()
    assert lib.describe("fix_bug")["source"] == "builtin"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no front-matter\n", "must start with a '+++' line"),
        ('+++\ndescription = "x"\nHello\n', "no closing '+++'"),
        ("+++\ndescription = \n+++\nHello\n", "not valid TOML"),
        ("+++\ntitle = 'x'\n+++\nHello\n", "needs description"),
        ('+++\ndescription = "x"\ncolour = 1\n+++\nHello\n', "unknown key(s) colour"),
        ('+++\ndescription = "x"\n+++\nHello {{who}}\n', "not a declared argument"),
        (
            '+++\ndescription = "x"\n[[arguments]]\nname = "a"\n+++\n{{#a}}open\n',
            "never closed",
        ),
        (
            '+++\ndescription = "x"\n[[arguments]]\nname = "a b"\n+++\nHi\n',
            "name must match",
        ),
        (
            '+++\ndescription = "x"\n[[arguments]]\nname = "a"\nrequired = "yes"\n+++\nHi\n',
            "required must be true or false",
        ),
        ('+++\ndescription = "x"\n+++\n\n', "is empty"),
    ],
)
def test_malformed_user_template_is_skipped_with_warning(
    lib_settings: Settings,
    home: Path,
    caplog: pytest.LogCaptureFixture,
    text: str,
    problem: str,
) -> None:
    path = write_user(home, "broken", text)
    write_user(home, "review", REVIEW)
    with caplog.at_level(logging.WARNING, logger="agentdeck.prompts.library"):
        lib = PromptLibrary(lib_settings)
    assert "broken" not in lib.names()
    assert {"review", *BUILTINS} == set(lib.names())
    messages = [r.getMessage() for r in caplog.records]
    assert any(str(path) in m and problem in m for m in messages), messages


def test_jsx_braces_are_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "jsx.md"
    path.write_text(
        '+++\ndescription = "x"\n[[arguments]]\nname = "c"\n+++\n'
        "<div style={{ color: 'red' }}>{{c}}</div>\n"
    )
    template = parse_template(path, "user")
    assert template.arguments[0].name == "c"


def test_complete_choices_and_files(lib_settings: Settings, project: Path) -> None:
    (project / "src" / "pkg").mkdir(parents=True)
    for rel in ("src/pkg/a.py", "src/b.py", "README.md", ".git/HEAD", "node_modules/x/i.js"):
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text("")
    (project / ".venv" / "lib").mkdir(parents=True)
    (project / ".venv" / "lib" / "site.py").write_text("")
    lib = PromptLibrary(lib_settings)
    assert lib.complete("create_unit_tests", "test_framework", "") == [
        "pytest",
        "unittest",
        "jest",
        "vitest",
        "mocha",
    ]
    assert lib.complete("create_unit_tests", "test_framework", "V") == ["vitest"]
    assert lib.complete("create_react_component", "component_type", "") == ["functional", "class"]
    assert lib.complete("create_react_component", "styling_approach", "t") == ["tailwind"]
    assert lib.complete("create_react_component", "include_tests", "") == ["true", "false"]
    assert lib.complete("create_unit_tests", "file_path", "") == [
        "README.md",
        "src/b.py",
        "src/pkg/a.py",
    ]
    assert lib.complete("create_unit_tests", "file_path", "src/p") == ["src/pkg/a.py"]
    assert lib.complete("create_unit_tests", "file_path", "../") == []
    assert lib.complete("fix_bug", "affected_files", "README.md, src/b") == ["README.md, src/b.py"]
    with pytest.raises(InvalidInput):
        lib.complete("fix_bug", "nope", "")


def test_file_completion_is_capped(lib_settings: Settings, project: Path) -> None:
    for i in range(MAX_COMPLETIONS + 20):
        (project / f"f{i:03}.txt").write_text("")
    lib = PromptLibrary(lib_settings)
    assert len(lib.complete("create_unit_tests", "file_path", "f")) == MAX_COMPLETIONS


def test_builtin_templates_are_package_files() -> None:
    assert {p.stem for p in BUILTIN_DIR.glob("*.md")} == BUILTINS
