"""The .env config store: only the touched variable changes; every other byte stays."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from dotenv import dotenv_values
from dotenv.parser import parse_stream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from changeover.core.configstores.envfile import EnvFileStore, encode_value, render
from changeover.core.errors import ConfigStoreError

SAMPLE = (
    "# shop, production\n"
    "export SECRET_KEY='s3cr\\'et'\n"
    "\n"
    'GREETING="hello\n  world"   # multi-line\n'
    "DEBUG=0\n"
    "  INDENTED = yes\r\n"
    "DATABASE_URL=postgres://old@db/old\n"
    "TAIL=last"
)


def statements(text: str) -> list[str]:
    return [b.original.string for b in parse_stream(io.StringIO(text))]


def test_set_existing_variable_rewrites_only_that_statement() -> None:
    after = render(SAMPLE, {"DATABASE_URL": "postgresql://app:pw@db/new"})
    before_parts, after_parts = statements(SAMPLE), statements(after)
    changed = [i for i, (a, b) in enumerate(zip(before_parts, after_parts, strict=True)) if a != b]
    assert changed == [i for i, part in enumerate(before_parts) if "DATABASE_URL" in part]
    assert after_parts[changed[0]] == "DATABASE_URL=postgresql://app:pw@db/new\n"
    assert after.endswith("TAIL=last")  # no final newline added


def test_set_keeps_export_prefix_and_crlf() -> None:
    text = "export A=1\r\nB=2\r\n"
    assert render(text, {"A": "x y"}) == "export A='x y'\r\nB=2\r\n"


def test_new_variable_is_appended_with_the_files_line_ending() -> None:
    assert render("A=1\n", {"B": "2"}) == "A=1\nB=2\n"
    assert render("A=1\r\n", {"B": "2"}) == "A=1\r\nB=2\r\n"
    assert render("", {"B": "2"}) == "B=2\n"


def test_a_file_without_a_final_newline_keeps_having_none() -> None:
    assert render("A=1", {"B": "2"}) == "A=1\nB=2"
    assert render("A=1\r\nC=3", {"B": "2"}) == "A=1\r\nC=3\r\nB=2"
    assert render(render("A=1", {"B": "2"}), {"B": None}) == "A=1"
    assert render(render(SAMPLE, {"NEW": "x y"}), {"NEW": None}) == SAMPLE


def test_unset_removes_the_statement_and_keeps_the_rest() -> None:
    after = render(SAMPLE, {"DATABASE_URL": None})
    assert "DATABASE_URL" not in after
    assert after == SAMPLE.replace("DATABASE_URL=postgres://old@db/old\n", "")


def test_duplicate_variable_is_set_once_at_its_last_place() -> None:
    after = render("A=1\nB=2\nA=3\n", {"A": "9"})
    assert after == "B=2\nA=9\n"
    assert dotenv_values(stream=io.StringIO(after)) == {"B": "2", "A": "9"}


CARRIED = [
    "plain",
    "with space",
    "has#hash",
    "quote'in",
    'dq"in',
    "$NOT_EXPANDED",
    "multi\nline",
    "",
    "back\\slash",
    "redis://:$(id>PWNED)@h/0",
    "`id>PWNED`",
    "~root",
    "a;b&c|d<e>f",
    "tab\there",
    " lead and trail ",
    'it\'s a "test"',
    "ünïcödé",
    "*",
    "p'\"x",
]
REFUSED = ["${HOME}", "it's $HOME", "it's a back\\slash", "two\\\\backslashes", "ends with\\", "nul\0"]


@pytest.mark.parametrize("value", CARRIED)
def test_encoded_values_read_back_exactly(value: str) -> None:
    text = f"X={encode_value(value)}\n"
    assert dotenv_values(stream=io.StringIO(text), interpolate=False)["X"] == value
    assert dotenv_values(stream=io.StringIO(text), interpolate=True)["X"] == value


@pytest.mark.parametrize("value", REFUSED)
def test_values_no_form_carries_identically_are_refused(value: str) -> None:
    with pytest.raises(ConfigStoreError, match="value") as caught:
        encode_value(value)
    assert value not in caught.value.message


def test_unquoted_only_when_every_character_is_safe() -> None:
    assert encode_value("postgresql://app:pw@db:5432/app?sslmode=require") == (
        "'postgresql://app:pw@db:5432/app?sslmode=require'"
    )
    assert encode_value("postgresql://app:pw@db:5432/app") == "postgresql://app:pw@db:5432/app"
    assert encode_value("a+b,c=d%20e") == "a+b,c=d%20e"
    assert encode_value("redis://:$(id>PWNED)@h/0") == "'redis://:$(id>PWNED)@h/0'"


def _source_with_sh(folder: Path, names: list[str]) -> dict[str, str | None]:
    """Each variable as a POSIX shell reads it after `set -a; . ./.env` (exported, then read exactly)."""
    show = f"import json, os; print(json.dumps({{n: os.environ.get(n) for n in {names!r}}}))"
    script = 'set -a; . ./.env; exec "$0" -c "$1"'
    run = subprocess.run(
        ["sh", "-c", script, sys.executable, show], cwd=folder, capture_output=True, check=True, text=True
    )
    found: dict[str, str | None] = json.loads(run.stdout)
    return found


def test_a_shell_sourcing_the_file_reads_what_dotenv_reads_and_runs_nothing(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# tricky values, written by Changeover\n")
    names = [f"V{i}" for i in range(len(CARRIED))]
    EnvFileStore(path).apply(dict(zip(names, CARRIED, strict=True)))
    by_shell = _source_with_sh(tmp_path, names)
    by_dotenv = dotenv_values(path)
    assert by_shell == dict(zip(names, CARRIED, strict=True))
    assert {n: by_dotenv[n] for n in names} == by_shell
    assert not (tmp_path / "PWNED").exists()


@settings(max_examples=100, deadline=None)
@given(
    st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=30)
    | st.text(alphabet="ab'\"\\\n #$(){}`", max_size=12)
)
def test_property_shell_and_dotenv_agree_on_every_written_value(value: str) -> None:
    try:
        text = f"X={encode_value(value)}\n"
    except ConfigStoreError:
        return
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / ".env").write_text(text)
        assert _source_with_sh(Path(folder), ["X"]) == {"X": value}
        assert not (Path(folder) / "PWNED").exists()
    assert dotenv_values(stream=io.StringIO(text))["X"] == value


# -- property-based: arbitrary files, arbitrary values -----------------------------------------------

key = st.from_regex(r"[A-Z_][A-Z0-9_]{0,12}", fullmatch=True)
plain_value = st.text(st.characters(codec="utf-8", exclude_characters="\r\n#'\"\\ \t$"), max_size=20)
quoted_value = st.text(st.characters(codec="utf-8", exclude_characters="'\\"), max_size=20).map(lambda v: f"'{v}'")
dq_value = st.text(st.characters(codec="utf-8", exclude_characters='"\\'), max_size=20).map(lambda v: f'"{v}"')
statement = st.one_of(
    st.tuples(
        st.sampled_from(["", "export "]),
        key,
        st.sampled_from(["=", " = "]),
        st.one_of(plain_value, quoted_value, dq_value),
    ).map(lambda t: f"{t[0]}{t[1]}{t[2]}{t[3]}"),
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=20).map(lambda c: f"# {c}"),
    st.just(""),
)
env_text = st.tuples(st.lists(statement, max_size=12), st.sampled_from(["\n", "\r\n"]), st.booleans()).map(
    lambda t: t[1].join(t[0]) + (t[1] if t[2] and t[0] else "")
)


def encodable(value: str) -> bool:
    try:
        encode_value(value)
    except ConfigStoreError:
        return False
    return True


any_value = st.text(st.characters(codec="utf-8"), max_size=40).filter(encodable)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(text=env_text, name=key, value=any_value)
def test_property_set_changes_only_the_variable(text: str, name: str, value: str) -> None:
    before = dotenv_values(stream=io.StringIO(text), interpolate=False)
    after_text = render(text, {name: value})
    after = dotenv_values(stream=io.StringIO(after_text), interpolate=False)
    assert after[name] == value
    assert {k: v for k, v in after.items() if k != name} == {k: v for k, v in before.items() if k != name}
    bindings = list(parse_stream(io.StringIO(text)))
    places = [i for i, b in enumerate(bindings) if b.key == name]
    if not places:
        assert after_text.startswith(text)
    elif len(places) == 1:
        # Everything before and after the one statement is the same, byte for byte.
        i = places[0]
        original = bindings[i].original.string
        prefix = "".join(b.original.string for b in bindings[:i]) + original[: len(original) - len(original.lstrip())]
        suffix = "".join(b.original.string for b in bindings[i + 1 :])
        assert after_text.startswith(prefix)
        assert after_text.endswith(suffix)
        assert len(after_text) >= len(prefix) + len(suffix)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(text=env_text, name=key)
def test_property_unset_then_text_is_the_rest(text: str, name: str) -> None:
    before = dotenv_values(stream=io.StringIO(text), interpolate=False)
    after_text = render(text, {name: None})
    after = dotenv_values(stream=io.StringIO(after_text), interpolate=False)
    assert name not in after
    assert after == {k: v for k, v in before.items() if k != name}
    if name not in before:
        assert after_text == text  # nothing to clear: not a byte changes


@settings(max_examples=200)
@given(text=env_text)
def test_property_setting_a_value_to_itself_round_trips_other_bytes(text: str) -> None:
    """Setting an absent variable only appends: the original text is a prefix, byte for byte."""
    after = render(text, {"CHANGEOVER_NEW_VAR": "v"})
    assert after.startswith(text)
    added = after[len(text) :]
    assert added.strip("\r\n") == "CHANGEOVER_NEW_VAR=v"
    # The file's own line ending (where no quoted value can hold a line break of its own), and a final
    # newline only if the file had one (or was empty).
    crlf = "\r\n" in text
    assert ("\r\n" in added) == crlf or not text.strip() or "'" in text or '"' in text
    assert added.endswith(("\n", "\r")) == (text.endswith(("\n", "\r")) or not text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(text=env_text, name=key, value=any_value)
def test_property_append_then_remove_gives_back_every_byte(text: str, name: str, value: str) -> None:
    if name in dotenv_values(stream=io.StringIO(text), interpolate=False) or name in text:
        return
    assert render(render(text, {name: value}), {name: None}) == text


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(text=env_text, name=key, value=any_value, bom=st.booleans())
def test_property_the_store_keeps_bom_endings_and_bytes_through_attach_and_detach(
    tmp_path: Path, text: str, name: str, value: str, bom: bool
) -> None:
    if name in text:
        return
    path = tmp_path / ".env"
    original = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    path.write_bytes(original)
    store = EnvFileStore(path, keep_backups=0)
    store.apply({name: value})
    assert store.read()[name] == value
    assert path.read_bytes().startswith(original)
    store.apply({name: None})
    assert path.read_bytes() == original


# -- the store: atomic writes, modes, backups, refusals -----------------------------------------------


def test_apply_writes_atomically_keeps_mode_and_a_backup(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(SAMPLE.encode())
    path.chmod(0o640)
    store = EnvFileStore(path)
    change = store.apply({"DATABASE_URL": "postgresql://a@b/c"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    [backup] = store.backups()
    assert backup.read_bytes() == SAMPLE.encode()
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600  # private, whatever the .env allows
    assert store.read()["DATABASE_URL"] == "postgresql://a@b/c"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    change.revert()
    assert path.read_bytes() == SAMPLE.encode()
    assert store.backups() == []


def test_new_file_is_created_private(tmp_path: Path) -> None:
    store = EnvFileStore(tmp_path / "new.env")
    store.create()
    assert stat.S_IMODE((tmp_path / "new.env").stat().st_mode) == 0o600
    store.apply({"A": "1"})
    assert (tmp_path / "new.env").read_text() == "A=1\n"


def test_read_only_file_is_refused_and_unchanged(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    path.chmod(0o444)
    with pytest.raises(ConfigStoreError, match="read-only"):
        EnvFileStore(path).apply({"A": "2"})
    assert path.read_text() == "A=1\n"
    assert sorted(os.listdir(tmp_path)) == [".env"]


def test_a_change_that_changes_nothing_needs_no_write_access(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    path.chmod(0o444)
    EnvFileStore(path).apply({"A": "1", "NOT_THERE": None})  # e.g. clearing a flag that was never set
    with pytest.raises(ConfigStoreError, match="read-only"):
        EnvFileStore(path).apply({"A": "2"})
    assert path.read_text() == "A=1\n"


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigStoreError, match="does not exist"):
        EnvFileStore(tmp_path / "nope.env").apply({"A": "1"})
    assert list(tmp_path.iterdir()) == []


def test_unchanged_content_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    EnvFileStore(path).apply({"A": "1"})
    assert EnvFileStore(path).backups() == []
