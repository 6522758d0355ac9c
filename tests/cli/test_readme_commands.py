"""Every command line the README documents still parses: scripts written against it keep working.

The command lines are read from the ``text`` blocks of the README's "The command line", "Database servers"
and "Upgrading" sections, with placeholder values; an optional part (``[--json]``) is tried without and with
each of its alternatives. Every ``--option`` those sections mention must be an option of some command.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from changeover.cli import build_parser

README = Path(__file__).parents[2] / "README.md"
SECTIONS = ("## The command line", "## Database servers", "## Upgrading")
PLACEHOLDERS = {"RUN": "1"}  # whole words standing for a value
STAMP = "20260101T000000Z"  # a backup folder's <timestamp>
OPTIONAL = re.compile(r"\[([^\[\]]*)\]")


def _sections() -> list[str]:
    """The text of each documented section, from its heading to the next heading of the same level."""
    text = README.read_text(encoding="utf-8")
    found = []
    for heading in SECTIONS:
        start = text.index("\n" + heading) + 1
        end = text.find("\n## ", start + len(heading))
        found.append(text[start : end if end != -1 else len(text)])
    return found


def _command_lines() -> list[str]:
    """Each ``changeover ...`` line of the sections' text blocks, continuation lines joined, comments cut."""
    lines = []
    for section in _sections():
        for block in re.findall(r"```text\n(.*?)```", section, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = re.sub(r"\s+#.*$", "", line).strip()
                if line.startswith("changeover "):
                    lines.append(re.sub(r"\s+", " ", line))
    return lines


def _variants(line: str) -> Iterator[list[str]]:
    """The line without its optional parts, then with them, once per alternative (``a|b|c``)."""
    groups = OPTIONAL.findall(line)
    yield shlex.split(OPTIONAL.sub(" ", line))
    widest = max((len(word.split("|")) for g in groups for word in g.split()), default=1)
    for i in range(widest):

        def pick(match: re.Match[str], i: int = i) -> str:
            return " ".join(_alternative(word, i) for word in match.group(1).split())

        yield shlex.split(OPTIONAL.sub(pick, line))


def _alternative(word: str, i: int) -> str:
    choices = word.split("|")
    return choices[min(i, len(choices) - 1)]


def _placeholders(argv: list[str]) -> list[str]:
    return [PLACEHOLDERS.get(word, word).replace("<timestamp>", STAMP) for word in argv]


def _parse(argv: list[str]) -> tuple[argparse.Namespace | None, str]:
    """The parsed arguments of ``changeover ARGV``, or None and argparse's complaint."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            return build_parser().parse_args(argv), ""
        except SystemExit as exc:
            return None, f"exit {exc.code}: {err.getvalue().strip()}"


def _exists(argv: list[str]) -> bool:
    """Whether ``changeover ARGV --help`` names a command (argparse exits 0 with help, 2 on an unknown one)."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args([*argv, "--help"])
        except SystemExit as exc:
            return exc.code == 0
    return False


def check(line: str) -> list[str]:
    """What is wrong with a documented command line: an empty list when every variant of it parses."""
    problems = []
    words = shlex.split(OPTIONAL.sub(" ", line))
    if words[-1] == "...":  # `changeover deploy list|show|edit ... ...`: each alternative is a command
        head = words[1:-1]
        for choice in head[-1].split("|"):
            if not _exists([*head[:-1], choice]):
                problems.append(f"{' '.join([*head[:-1], choice])}: no such command")
        return problems
    for variant in _variants(line):
        argv = _placeholders(variant[1:])
        args, complaint = _parse(argv)
        if args is None:
            problems.append(f"{shlex.join(argv)}: {complaint}")
        elif getattr(args, "handler", None) is None:
            problems.append(f"{shlex.join(argv)}: parses to no command")
    return problems


def _all_options(parser: argparse.ArgumentParser) -> set[str]:
    options = set()
    for action in parser._actions:
        options.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                options |= _all_options(sub)
    return options


LINES = _command_lines()


def test_the_readme_documents_the_command_lines_this_test_reads() -> None:
    # If the sections were renamed or their blocks reformatted, this test would silently check nothing.
    assert len(LINES) >= 25
    assert any(line.startswith("changeover upgrade --rollback") for line in LINES)
    assert any(line.startswith("changeover server add") for line in LINES)


@pytest.mark.parametrize("line", LINES)
def test_each_documented_command_line_parses(line: str) -> None:
    assert check(line) == []


def test_every_option_the_sections_mention_exists() -> None:
    mentioned = {flag for section in _sections() for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", section)}
    assert {"--replace", "--keep-days", "--hook-timeout", "--quiet-timeout", "--rollback"} <= mentioned
    assert sorted(mentioned - _all_options(build_parser())) == []


def test_the_check_refuses_what_the_parser_does_not_know() -> None:
    assert check("changeover attach orders-db shop-prod [--as DATABASE_URL] [--replace]") == []
    assert check("changeover attach orders-db shop-prod [--replace-all]") != []
    assert check("changeover detach orders-db shop-prod --keep-days 0") != []  # out of range
    assert check("changeover resource list [--state attached|gone]") != []
    assert check("changeover deploy list|show|frobnicate ...") == ["deploy frobnicate: no such command"]
