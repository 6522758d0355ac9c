"""The use case over the inventory and ``changeover check``: results kept with their time, nothing audited,
a keyring refusal reported as failed, exit 1 only when a check failed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from changeover.cli.app import main
from changeover.core import checks
from changeover.core import secrets as keyring_secrets
from changeover.core.errors import NotFound
from changeover.core.inventory.db import Inventory
from changeover.core.inventory.models import Event, HealthCheck, Resource
from changeover.core.workspace import Workspace


def _events(ws: Workspace) -> int:
    with ws.session() as session:
        return int(session.scalar(select(func.count()).select_from(Event)) or 0)


def test_results_are_kept_with_their_time_and_hold_no_secret(
    workspace: Workspace, redis_server: tuple[int, str]
) -> None:
    port, password = redis_server
    workspace.register_resource("cache", f"redis://:{password}@127.0.0.1:{port}/0")
    workspace.register_resource("cache-bad", f"redis://:wrong-pw-value@127.0.0.1:{port}/0")
    workspace.register_resource("stripe", "sk_live_abcdef123456", kind="apikey")
    audited = _events(workspace)

    results = {r.resource: r for r in checks.check_resources(workspace, timeout=2.0)}

    assert results["cache"].status is checks.CheckStatus.OK
    assert results["cache-bad"].status is checks.CheckStatus.FAILED
    assert "wrong password" in results["cache-bad"].reason.lower()
    assert results["stripe"].status is checks.CheckStatus.NOT_CHECKABLE
    assert password not in results["cache"].handle and "•••" in results["cache"].handle
    assert _events(workspace) == audited, "a check is a read: nothing is audited"

    last = checks.last_results(workspace)
    assert set(last) == {"cache", "cache-bad", "stripe"}
    assert last["cache-bad"].checked_at == results["cache-bad"].checked_at
    assert last["cache-bad"].reason == results["cache-bad"].reason
    with workspace.session() as session:
        rows = list(session.scalars(select(HealthCheck)))
    assert len(rows) == 3
    for row in rows:
        assert password not in row.reason and "wrong-pw-value" not in row.reason and "sk_live" not in row.reason


def test_named_resources_only_and_unknown_names_refused(workspace: Workspace, redis_server: tuple[int, str]) -> None:
    port, password = redis_server
    workspace.register_resource("cache", f"redis://:{password}@127.0.0.1:{port}/0")
    workspace.register_resource("other", "redis://127.0.0.1:1/0")
    assert [r.resource for r in checks.check_resources(workspace, ["cache"])] == ["cache"]
    with pytest.raises(NotFound, match="No resource named 'nope'"):
        checks.check_resources(workspace, ["cache", "nope"])
    assert set(checks.last_results(workspace)) == {"cache"}, "a refused run stores nothing"


def test_a_keyring_without_the_secret_is_a_failed_check(workspace: Workspace, redis_server: tuple[int, str]) -> None:
    port, password = redis_server
    workspace.register_resource("cache", f"redis://:{password}@127.0.0.1:{port}/0")
    with workspace.session() as session:
        ref = session.scalar(select(Resource.secret_ref).where(Resource.name == "cache"))
    assert ref
    keyring_secrets.delete(ref)
    (result,) = checks.check_resources(workspace, ["cache"])
    assert result.status is checks.CheckStatus.FAILED
    assert "keyring holds no secret" in result.reason


def test_only_the_latest_results_are_kept(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, redis_server: tuple[int, str]
) -> None:
    monkeypatch.setattr(checks, "KEEP_PER_RESOURCE", 2)
    workspace.register_resource("gone", "redis://127.0.0.1:1/0")
    runs = [checks.check_resources(workspace)[0] for _ in range(3)]
    with workspace.session() as session:
        kept = list(session.scalars(select(HealthCheck).order_by(HealthCheck.id)))
    assert len(kept) == 2
    assert checks.last_results(workspace)["gone"].checked_at == runs[-1].checked_at


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_cli_check_exit_codes_json_and_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_server: tuple[int, str]
) -> None:
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", url)
    port, password = redis_server
    ws = Workspace(Inventory(url))
    try:
        ws.register_resource("cache", f"redis://:{password}@127.0.0.1:{port}/0")
        ws.register_resource("stripe", "sk_live_abcdef123456", kind="apikey")
    finally:
        ws.close()

    code, out, err = _cli("check", "--all", "--json")
    assert code == 0, err
    report = {r["resource"]: r for r in json.loads(out)}
    assert report["cache"]["status"] == "ok" and report["stripe"]["status"] == "not_checkable"
    assert report["cache"]["checked_at"] and report["cache"]["latency_ms"] > 0

    ws = Workspace(Inventory(url))
    try:
        ws.register_resource("cache-bad", f"redis://:wrong-pw-value@127.0.0.1:{port}/0")
    finally:
        ws.close()
    code, out, err = _cli("check")
    assert code == 1
    assert "cache-bad" in err and "failed their check" in err
    assert "wrong password" in out.lower() and "not checkable" in out
    assert password not in out + err and "wrong-pw-value" not in out + err

    code, out, err = _cli("check", "cache", "--timeout", "2")
    assert code == 0, err
    assert out.count("\n") == 2  # the header and one row
