"""CI runs exactly the README's test command: keep the two from drifting apart."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci_commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                   if line and not line.startswith(("#", "set ", "cd "))]
    readme = (ROOT / "README.md").read_text()
    assert len(ci_commands) == 1
    assert f"```\n{ci_commands[0]}\n```" in readme
    assert "pytest" in ci_commands[0]
