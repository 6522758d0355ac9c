"""The project's promises about itself: the README's two commands, and CI running the same tests."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


#: the end of the README's test command: pytest, with options (`-n 4`: in parallel) and no test paths
PYTEST = re.compile(r"\.venv/bin/python -m pytest( -\S+( \d+)?)*$")


def commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", readme)


def test_readme_gives_exactly_two_setup_commands() -> None:
    setup = [c for c in commands() if c.startswith("python3 -m venv .venv")]
    assert len(setup) == 2
    assert any(c.endswith(".venv/bin/changeover") for c in setup)
    assert any(PYTEST.search(c) for c in setup)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    [test_command] = [c for c in commands() if PYTEST.search(c)]
    assert test_command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_type_checker_sees_the_faces_and_core_as_one_package() -> None:
    """`mypy -p changeover` checks every call from gui/ and cli/ into core against core's real types: the
    link tree under .typecheck/ must name every top-level room of the package, and nothing else."""
    tree = ROOT / ".typecheck" / "changeover"
    links = {p.name: p.resolve() for p in tree.iterdir() if p.is_symlink()}
    assert links == {name: (ROOT / name).resolve() for name in ("core", "gui", "cli", "resources")}
    assert "-p changeover" in (ROOT / ".ci" / "run").read_text()
