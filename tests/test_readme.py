"""The README opens with the two commands, and .ci/run runs the second one verbatim."""

from __future__ import annotations

from pathlib import Path

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
