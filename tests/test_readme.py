"""The README opens with the two commands, and .ci/run runs the second one verbatim."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from wsgikit.testing import call_app

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("```", 2)[1]
    return [line for line in block.splitlines()[1:] if line.strip()]


def test_readme_opens_with_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = text.index("```")
    assert text[:first_block].strip() == "# wsgikit"
    commands = readme_commands()
    assert len(commands) == 2
    assert "wsgikit serve examples." in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert readme_commands()[1] in ci


def test_ci_requires_integration() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "export WSGIKIT_REQUIRE_INTEGRATION=1" in ci


def test_readme_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's Python example, with two tiny apps standing in for ``myproject``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    example = text.split("```python\n", 1)[1].split("```", 1)[0]

    def site_app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"site " + environ["PATH_INFO"].encode()]

    def api_app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"api {environ['SCRIPT_NAME']} {environ['PATH_INFO']}".encode()]

    project = types.ModuleType("myproject")
    project.site_app = site_app  # type: ignore[attr-defined]
    project.api_app = api_app  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "myproject", project)
    namespace: dict[str, Any] = {}
    exec(compile(example, "README.md", "exec"), namespace)
    assert call_app(namespace["app"], path="/api/x").body == b"api /api /x"
    assert call_app(namespace["app"], path="/about").body == b"site /about"
