"""Passwords never reach a child's command line, a manifest, a log or the audit trail.

The native tools are wrapped (through CHANGEOVER_TOOL_PATH) by scripts that record each call's argv,
whether a PGPASSWORD came through the environment, and the mode of any option file, then run the
real tool. The databases are provisioned, so their users have real generated passwords.
"""

from __future__ import annotations

import logging
import shutil
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from changeover.core import backups, servers
from changeover.core.transfer import tools
from changeover.core.workspace import Workspace
from tests.transfer.helpers import ADMIN_PW
from tests.transfer.richschema import ROWS, create_rich_schema

WRAPPER = """#!/bin/bash
{{
  echo "ARGV {name} $*"
  [ -n "$PGPASSWORD" ] && echo "ENV PGPASSWORD"
  for a in "$@"; do
    case "$a" in --defaults-extra-file=*)
      echo "MODE $(stat -L -c %a "${{a#*=}}")"
      echo "OPTIONS $(readlink -f "${{a#*=}}" || echo "${{a#*=}}")";;
    esac
  done
}} >> {log}
exec {real} "$@"
"""


@pytest.fixture
def wrapped_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "calls.log"
    for name in ("pg_dump", "pg_restore", "mariadb-dump", "mariadb"):
        real = shutil.which(name)
        if real is None:
            pytest.skip(f"{name} is not installed")
        script = folder / name
        script.write_text(WRAPPER.format(name=name, log=log, real=real))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(tools.PATH_VAR, str(folder))
    return log


@pytest.mark.servers
@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_no_password_on_command_lines_manifests_or_logs(
    engine: str,
    workspace: Workspace,
    wrapped_tools: Path,
    request: pytest.FixtureRequest,
    cleanup: list[tuple[str, str]],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    handle = request.getfixturevalue(f"{'postgres' if engine == 'postgresql' else 'mysql'}_admin_handle")
    servers.register_server(workspace, "srv", handle)
    for name in ("sec-src", "sec-dst"):
        cleanup.append((engine, servers.database_name(name)))
        servers.provision(workspace, "srv", name)
    passwords = [make_url(workspace.full_handle(n)).password for n in ("sec-src", "sec-dst")]
    source = make_url(workspace.full_handle("sec-src"))
    create_rich_schema(source.set(drivername="postgresql+psycopg" if engine == "postgresql" else "mysql+pymysql"))

    result = backups.backup_resource(workspace, "sec-src")
    loaded = backups.load_into_resource(workspace, result.folder, "sec-dst")

    assert loaded.verified and loaded.rows == sum(len(rows) for rows in ROWS.values())
    calls = wrapped_tools.read_text()
    argv = [line for line in calls.splitlines() if line.startswith("ARGV")]
    dump, load = ("pg_dump", "pg_restore") if engine == "postgresql" else ("mariadb-dump", "mariadb")
    assert any(line.startswith(f"ARGV {dump} ") and "--version" not in line for line in argv)
    assert any(line.startswith(f"ARGV {load} ") and "--version" not in line for line in argv)
    if engine == "postgresql":
        assert "ENV PGPASSWORD" in calls  # the password travels in the environment
    else:
        assert "--defaults-extra-file=" in calls and set(
            line for line in calls.splitlines() if line.startswith("MODE")
        ) == {"MODE 600"}
        # the option file is anonymous (memfd) on Linux: nothing on disk, ever; elsewhere it is removed after use
        options = [line.split(" ", 1)[1] for line in calls.splitlines() if line.startswith("OPTIONS ")]
        assert options and all(o.startswith("/memfd:") or not Path(o).exists() for o in options), options
    texts = {
        "command lines": calls,
        "manifest": (result.folder / "manifest.json").read_text(),
        "log": caplog.text,
        "audit trail": repr(workspace.events()),
    }
    for password in [*passwords, ADMIN_PW]:
        assert password
        for where, text in texts.items():
            assert password not in text, f"a password is in the {where}"
    assert "•••" in texts["manifest"]


@pytest.mark.servers
def test_a_failing_tool_reports_without_the_password(
    workspace: Workspace,
    mysql_admin_handle: str,  # noqa: F811
    cleanup: list[tuple[str, str]],  # noqa: F811
    mysql_admin: sa.Engine,
) -> None:
    servers.register_server(workspace, "srv", mysql_admin_handle)
    cleanup.append(("mysql", servers.database_name("gone-user")))
    servers.provision(workspace, "srv", "gone-user")
    password = make_url(workspace.full_handle("gone-user")).password
    assert password
    with mysql_admin.connect() as conn:  # the server no longer knows the user: the dump must fail
        conn.execute(sa.text("DROP USER :u@'%'"), {"u": servers.database_name("gone-user")})

    with pytest.raises(Exception) as failed:
        backups.backup_resource(workspace, "gone-user")

    assert "denied" in str(failed.value).lower()
    assert password not in str(failed.value) and password not in repr(workspace.events())
    assert backups.list_backups("gone-user") == []


def _tree_modes(top: Path) -> dict[Path, int]:
    modes = {top: top.stat().st_mode}
    modes.update({p: p.stat().st_mode for p in top.rglob("*")})
    return modes


@pytest.mark.servers
@pytest.mark.parametrize("engine", ["postgresql", "mysql", "sqlite"])
def test_backup_folders_are_0700_and_files_0600_all_the_way_down(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from changeover.core import paths
    from changeover.core.transfer.backup import BackupParams, backup

    if engine == "sqlite":
        source = make_url(f"sqlite:///{tmp_path / 'app.sqlite3'}")
    else:
        source = request.getfixturevalue("make_postgres_db" if engine == "postgresql" else "make_mysql_db")()
    eng = sa.create_engine(source, poolclass=sa.NullPool)
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE TABLE notes (id integer PRIMARY KEY, body text)"))
        conn.execute(sa.text("INSERT INTO notes VALUES (1, 'one'), (2, 'two')"))
    eng.dispose()
    assert not paths.data_dir().exists()  # so Changeover creates every folder from its data folder down

    result = backup(BackupParams(source, resource="notes"))

    assert result.folder.parent.parent == paths.backups_dir()
    modes = _tree_modes(paths.data_dir())
    assert result.folder in modes and result.artifact in modes and result.folder / "manifest.json" in modes
    for path, mode in modes.items():
        expected = 0o700 if stat.S_ISDIR(mode) else 0o600
        assert stat.S_IMODE(mode) == expected, f"{path} is {stat.S_IMODE(mode):o}"
