"""The copy route's steps (the other routes share most of them), each idempotent and journaled, so a run
resumes wherever it stopped."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import URL

from .. import attachments, deploys, engines
from ..configstores import open_store
from ..context import Context
from ..errors import ChangeoverError
from ..formats import plural
from ..inventory.models import Resource, ResourceState
from ..jobs import Progress, check_cancel
from . import journal
from .quiesce import change_marks, changed_since, wait_until_quiet
from .runs import EventSink, RunEvent, RunInfo, show_run
from .states import RunState, Step, StepState

if TYPE_CHECKING:
    from ..transfer.verify import TableComparison, VerifyReport

logger = logging.getLogger(__name__)


def database_url(ctx: Context, resource: Resource) -> URL:
    """A database resource's full URL, its secret from the keyring."""
    return ctx.resolve_handle(resource).sqlalchemy_url()


@dataclass
class StepContext:
    ws: Context
    run_id: int
    progress: Progress
    cancel: threading.Event | None
    emit: EventSink

    def data(self, step: str) -> dict[str, Any]:
        return journal.step_data(self.ws, self.run_id, step)

    def save(self, step: str, **data: Any) -> None:
        journal.update_step(self.ws, self.run_id, step, data=data)

    def run(self) -> RunInfo:
        return show_run(self.ws, self.run_id)

    def urls(self) -> tuple[URL, URL | None]:
        with self.ws.session() as session:
            run = journal.get_run(session, self.run_id)
            source = database_url(self.ws, run.source)
            target = database_url(self.ws, run.target) if run.target is not None else None
            return source, target


# -- the steps -------------------------------------------------------------------------------------


#: this process, as the backup step's data names it: the load trusts an artifact digested by this process
_THIS_PROCESS = secrets.token_hex(8)

#: the steps that first write into the new database: until one has run, it must be empty
FIRST_WRITES = frozenset({Step.LOAD, Step.BASE_COPY})


def _preflight(ctx: StepContext, report: Progress) -> str:

    report(0, None, "", "Checking the source, the target and the deploys")
    run = ctx.run()
    source_url, target_url = ctx.urls()
    info = engines.describe(source_url)
    ctx.save("preflight", size_bytes=info.size_bytes, tables=len(info.tables), rows=info.estimated_rows)
    with ctx.ws.session() as session:
        for deploy_name, _ in run.deploys:
            deploy = ctx.ws.deploy(session, deploy_name)
            open_store(deploy.config_kind, deploy.config_location).check_writable()
    if target_url is not None and any(s.name in FIRST_WRITES and s.state == StepState.WAITING for s in run.steps):
        engines.check_empty(target_url)
    return f"{info.engine} {info.server_version}, {info.size_bytes:,} bytes in {len(info.tables)} tables"


def _provision(ctx: StepContext, report: Progress) -> str:
    run = ctx.run()
    with ctx.ws.session() as session:
        row = journal.get_run(session, ctx.run_id)
        if row.target is not None:
            return f"using {row.target.name}"
        existing = session.scalar(select(Resource).where(Resource.name == run.target))
        if existing is not None and existing.origin == "provisioned" and existing.state != "deprovisioned":
            row.target = existing  # provisioned before a crash, not yet journaled
            session.commit()
            return f"adopted {existing.name}, provisioned before an interruption"
    from ..providers.base import InstanceOptions
    from ..servers import provision

    report(0, None, "", f"Provisioning {run.target} on {run.target_server}")
    with ctx.ws.session() as session:
        plan = journal.get_run(session, ctx.run_id).target_plan
    engine = _option(ctx, "engine", None)  # a cloud instance (RDS) runs the source's engine
    created = provision(
        ctx.ws,
        run.target_server or "",
        run.target,
        plan=plan,
        instance=InstanceOptions(str(engine)) if engine else None,
        progress=report,
        cancel=ctx.cancel,
    )
    with ctx.ws.session() as session:
        row = journal.get_run(session, ctx.run_id)
        row.target = ctx.ws.resource(session, created.name)
        session.commit()
    return f"{created.name}: {created.handle}"


def _maintenance_on(ctx: StepContext, report: Progress) -> str:
    run = ctx.run()
    if run.maintenance_started_at is None:
        journal.update_run(ctx.ws, ctx.run_id, maintenance_started_at=ctx.ws.clock())
    done: list[str] = list(ctx.data("maintenance_on").get("on", []))
    for i, (deploy, _) in enumerate(run.deploys):
        check_cancel(ctx.cancel, "The upgrade")
        report(i, len(run.deploys), "deploys", f"Maintenance on for {deploy}")
        if deploy not in done:
            # Journal first: a crash after the hook ran must still take the deploy out of maintenance.
            ctx.save("maintenance_on", on=[*done, deploy])
            deploys.set_maintenance(ctx.ws, deploy, True)
            done.append(deploy)
    source_url, _ = ctx.urls()
    timeout = float(_option(ctx, "quiet_timeout", 60.0))
    wait_until_quiet(source_url, timeout, report, ctx.cancel, f"'{run.source}'")
    return f"{plural(len(done), 'deploy')} in maintenance; the source is quiet"


def _option(ctx: StepContext, key: str, default: Any) -> Any:
    with ctx.ws.session() as session:
        return (journal.get_run(session, ctx.run_id).options or {}).get(key, default)


def _backup(ctx: StepContext, report: Progress) -> str:
    from ..transfer.backup import BackupParams, backup
    from ..transfer.formats.manifest import BackupInvalid, read, verify_artifact

    run = ctx.run()
    if run.backup_path:
        try:
            manifest = read(Path(run.backup_path))
            verify_artifact(Path(run.backup_path), manifest)
            ctx.save("backup", checked_by=_THIS_PROCESS)
            return f"kept the backup in {run.backup_path}"
        except BackupInvalid:
            pass
    source_url, target_url = ctx.urls()
    started = time.monotonic()
    form = _checksum_form(ctx, source_url, target_url)
    # when each table last changed, just before the backup reads it: the verify step shows by them that the
    # source stayed as backed up, counting only the tables they cannot vouch for (MariaDB; elsewhere all)
    ctx.save("backup", marks=change_marks(source_url))
    result = backup(BackupParams(source_url, resource=run.source, checksum_form=form), report, ctx.cancel)
    seconds = time.monotonic() - started
    size = result.manifest.size_bytes  # the artifact's files: a MariaDB backup is a folder of them
    journal.update_run(
        ctx.ws, ctx.run_id, backup_path=str(result.folder), stats={"backup_seconds": seconds, "backup_bytes": size}
    )
    ctx.save("backup", checked_by=_THIS_PROCESS)
    return f"{result.manifest.format}, {size:,} bytes in {result.folder}"


def _checksum_form(ctx: StepContext, source_url: URL, target_url: URL | None) -> str:
    """The fast hashes when the target is of the source's engine and version, else the canonical ones."""
    from ..transfer.verify.native import CANONICAL, shared_form

    if target_url is None or _option(ctx, "cross_engine", False):
        return CANONICAL
    return shared_form(source_url, target_url)


def _load(ctx: StepContext, report: Progress) -> str:
    run = ctx.run()
    source_url, target_url = ctx.urls()
    assert target_url is not None
    if ctx.data("load").get("started"):
        from .target import empty_database

        report(0, None, "", "Emptying the new database after an interrupted load")
        empty_database(target_url)
    ctx.save("load", started=True)
    started = time.monotonic()
    if _option(ctx, "cross_engine", False):
        from ..transfer import crossengine

        copied = crossengine.copy(source_url, target_url, progress=report, cancel=ctx.cancel)
        rows = copied.total_rows
    else:
        from ..transfer.load import LoadParams, load

        # PostgreSQL's foreign keys go in unchecked when this run validates them after the window (a run
        # journaled before that step existed has no such step: its keys are checked by the restore)
        defer = any(s.name == Step.CONSTRAINTS for s in run.steps)
        # when this process's backup step has just written or checked the artifact's sha256, it is not read
        # again (a run resumed by another process checks it): the verify step checks every row against the
        # source's own checksums, so a damaged artifact cannot pass anyway
        fresh = ctx.data("backup").get("checked_by") == _THIS_PROCESS
        params = LoadParams(
            Path(run.backup_path or ""), target_url, verify=False, defer_foreign_keys=defer, check_artifact=not fresh
        )
        loaded = load(params, report, ctx.cancel)
        rows = loaded.rows
        ctx.save("load", unchecked=[key.as_dict() for key in loaded.unchecked])
    seconds = time.monotonic() - started
    journal.update_run(ctx.ws, ctx.run_id, stats={"load_seconds": seconds, "rows": rows})
    return f"{rows:,} rows in {seconds:.1f} s"


def _verify(ctx: StepContext, report: Progress) -> str:
    """Compare the new database with the source as it was backed up (counts, checksums, sequences).

    The backup's manifest holds the source's checksums, taken during maintenance while the source was quiet,
    so only the new database is read in full; the source's row counts are checked again to prove it has not
    changed since. A backup without checksums falls back to checksumming both sides.
    """
    from ..engines import display_url
    from ..transfer.formats.manifest import read
    from ..transfer.verify import (
        TableSum,
        compare,
        sequence_positions,
        sequence_states,
        verify,
    )
    from ..transfer.verify.native import CANONICAL, checksum_in, hashes_in

    source_url, target_url = ctx.urls()
    assert target_url is not None
    run = ctx.run()
    started = time.monotonic()
    manifest = read(Path(run.backup_path)) if run.backup_path else None  # a route without a backup reads both
    form = manifest.checksum_form if manifest is not None else CANONICAL
    against_backup = manifest is not None and all(t.checksum for t in manifest.tables) and hashes_in(target_url, form)
    if against_backup:
        assert manifest is not None
        source_sums = {t.name: TableSum(t.name, t.rows, t.checksum or "") for t in manifest.tables}
        # the target alone is read, by as many connections as there are cores
        # the source's counts are taken while the target is hashed: both are mostly the servers' work
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-source") as pool:
            marks = ctx.data("backup").get("marks")
            unchanged = pool.submit(_check_source_unchanged, source_url, manifest.table_rows(), marks)
            target_sums = checksum_in(target_url, form, workers=os.cpu_count() or 1, progress=report, cancel=ctx.cancel)
            unchanged.result()
        result = journaled(ctx, compare)(
            f"{display_url(source_url)} (as backed up)",
            display_url(target_url),
            source_sums,
            target_sums,
            sequence_positions(source_url),
            sequence_positions(target_url),
            # every sequence, owned or not, at its position (SQLite has none of its own)
            **(
                {"source_sequences": sequence_states(source_url), "target_sequences": sequence_states(target_url)}
                if engines.of(target_url).has_sequences and engines.of(source_url).has_sequences
                else {}
            ),
        )
    else:
        result = journaled(ctx, verify)(source_url, target_url, progress=report, cancel=ctx.cancel)
    seconds = time.monotonic() - started
    journal.update_run(ctx.ws, ctx.run_id, stats={"verify_seconds": seconds, "verified": result.summary()})
    if against_backup and not _option(ctx, "cross_engine", False):  # loaded from the backup, equal to its manifest
        from ..audit import stamp
        from ..transfer.formats.manifest import Proof, record_proof

        where = f"resource {run.target} (upgrade run {ctx.run_id})"
        proof = Proof(stamp(ctx.ws.clock()), where, True, result.summary(), "restore")
        record_proof(Path(run.backup_path or ""), proof)
    return result.summary()


def journaled(ctx: StepContext, compare: Callable[..., VerifyReport]) -> Callable[..., VerifyReport]:
    """``compare`` whose report, table by table, is kept in the verify step's data (for the change record),
    whether the tables matched or not."""
    from ..transfer.verify import VerificationFailed

    def keep(report: VerifyReport) -> None:
        ctx.save("verify", tables=[_comparison(t) for t in report.tables], sequences=report.sequences)

    def run(*args: Any, **kwargs: Any) -> VerifyReport:
        try:
            report = compare(*args, **kwargs)
        except VerificationFailed as exc:
            keep(exc.report)
            raise
        keep(report)
        return report

    return run


def _comparison(table: TableComparison) -> dict[str, Any]:
    return {
        "table": table.table,
        "source_rows": table.source.rows if table.source else None,
        "target_rows": table.target.rows if table.target else None,
        "source_checksum": table.source.checksum if table.source else None,
        "target_checksum": table.target.checksum if table.target else None,
        "ok": table.ok,
        "problems": list(table.problems),
    }


def _check_source_unchanged(source_url: URL, rows: dict[str, int], marks: dict[str, Any] | None) -> None:
    """The source as backed up: a write that slipped past maintenance shows here. By when each table last
    changed where the engine keeps it exactly (``marks``, read before the backup; MariaDB), which sees updates
    too, and the exact row counts of every table it cannot vouch for (elsewhere: all of them)."""
    from ..transfer.backup import exact_counts
    from ..transfer.verify import VerificationFailed, VerifyReport

    changed, uncertain = changed_since(source_url, marks) if marks else ([], sorted(rows))
    if not changed and uncertain:
        counted = set(uncertain) if marks else None  # without marks, a table made since shows up as well
        now = exact_counts(source_url, only=counted)
        changed = sorted(n for n in set(now) | (counted or set(rows)) if rows.get(n) != now.get(n))
        changed = [f"{name} (rows)" for name in changed]
    if changed:
        raise VerificationFailed(
            f"The source changed after its backup: {', '.join(changed)}. Something still writes to it despite "
            "maintenance mode. Nothing was switched; find the writer and retry.",
            VerifyReport("source", "backup", ()),
        )


def _switch(ctx: StepContext, report: Progress) -> str:
    """Per deploy: one atomic write puts the new handle in the variable, then the restart hook runs.

    The point of no return is the first deploy config that really holds the new handle: everything that
    can be checked (the keyring gives out the new secret, every config is writable) is checked before
    any write, so such a failure still rolls back. Each deploy is marked ``writing`` before its write,
    so a crash right after it is recognised by :func:`_passed_point_of_no_return`.
    """
    run = ctx.run()
    state: dict[str, str] = dict(ctx.data("switch").get("deploys", {}))
    ws = ctx.ws
    with ws.session() as session:
        row = journal.get_run(session, ctx.run_id)
        assert row.target is not None
        ws.resolve_handle(row.target)  # the keyring gives out the new secret, or this fails before any write
        if row.switched_at is None:
            for deploy_name, _var in run.deploys:
                ws.store(ws.deploy(session, deploy_name)).check_writable()
    for i, (deploy_name, var) in enumerate(run.deploys):
        report(i, len(run.deploys), "deploys", f"Switching {deploy_name}")
        if state.get(deploy_name) == "restarted":
            continue
        store = ws.deploy_store(deploy_name)
        with store.locked(), ws.session() as session:
            row = journal.get_run(session, ctx.run_id)
            deploy = ws.deploy(session, deploy_name)
            assert row.target is not None
            new_handle = ws.resolve_handle(row.target)
            details: list[str] = [f"upgrade run {ctx.run_id}: {deploy_name} {var} -> {row.target.name}"]
            state[deploy_name] = "writing"
            ctx.save("switch", deploys=state)
            store.apply({var: new_handle.full()})
            first = row.switched_at is None
            if first:
                row.switched_at = ws.clock()
            if not any(
                a.detached_at is None and a.env_var == var and a.resource_id == row.target.id
                for a in deploy.attachments
            ):
                attachments.record_attach(ws, session, deploy, row.target, var, details)
            session.commit()
            if first:
                ctx.emit(RunEvent(ctx.run_id, "switch", "switched", "The point of no return has passed."))
            state[deploy_name] = "written"
            ctx.save("switch", deploys=state)
            ws.run_hook(deploy, "restart", details, tuple(new_handle.secrets.values()))
            ws.audit("switch", "deploy", deploy_name, "ok", "; ".join(details))
        state[deploy_name] = "restarted"
        ctx.save("switch", deploys=state)
    return f"{plural(len(run.deploys), 'deploy')} now {'uses' if len(run.deploys) == 1 else 'use'} {run.target}"


def passed_point_of_no_return(ws: Context, run_id: int) -> bool:
    """True once a deploy's config holds the new handle, even if a crash came before the journal said so."""
    with ws.session() as session:
        run = journal.get_run(session, run_id)
        if run.switched_at is not None:
            return True
        step = next((s for s in run.steps if s.name == "switch"), None)
        marks = (step.data or {}).get("deploys", {}) if step else {}
        writing = [str(d) for d in marks] if isinstance(marks, dict) else []
        if not writing or run.target is None:
            return False
        new_value = ws.resolve_handle(run.target).full()
        variables = {d["deploy"]: d["env_var"] for d in run.deploys}
        for deploy_name in writing:
            values = ws.store(ws.deploy(session, deploy_name)).read()
            if values.get(variables.get(deploy_name, "")) == new_value:
                run.switched_at = ws.clock()
                session.commit()
                return True
    return False


def out_of_maintenance(ctx: StepContext, report: Progress) -> list[str]:
    """Maintenance off for every deploy the run put in maintenance, journaled one by one (step 8 and rollback)."""
    on = list(ctx.data("maintenance_on").get("on", []))
    off: list[str] = list(ctx.data("maintenance_off").get("off", []))
    for i, deploy in enumerate(on):
        report(i, len(on), "deploys", f"Maintenance off for {deploy}")
        if deploy not in off:
            deploys.set_maintenance(ctx.ws, deploy, False)
            off.append(deploy)
            ctx.save("maintenance_off", off=off)
    return off


def _maintenance_off(ctx: StepContext, report: Progress) -> str:
    off = out_of_maintenance(ctx, report)
    journal.update_run(ctx.ws, ctx.run_id, maintenance_ended_at=ctx.ws.clock())
    return f"{plural(len(off), 'deploy')} out of maintenance"


def _constraints(ctx: StepContext, report: Progress) -> str:
    """Validate the foreign keys the load added NOT VALID (:mod:`..transfer.foreign_keys`), the app running.

    Idempotent: a key already valid is not read again, so a resumed run goes on where it stopped.
    """
    from ..transfer.foreign_keys import ForeignKey, validate

    keys = [ForeignKey(str(k["table"]), str(k["name"])) for k in ctx.data("load").get("unchecked", [])]
    if not keys:
        return "no foreign key left to validate"
    _source_url, target_url = ctx.urls()
    assert target_url is not None
    started = time.monotonic()
    validate(target_url, keys, report, ctx.cancel)
    seconds = time.monotonic() - started
    journal.update_run(ctx.ws, ctx.run_id, stats={"constraints_seconds": seconds})
    return f"{plural(len(keys), 'foreign key')} validated in {seconds:.1f} s"


def _finish(ctx: StepContext, report: Progress) -> str:

    ws = ctx.ws
    with ws.session() as session:
        run = journal.get_run(session, ctx.run_id)
        now = ws.clock()
        source = run.source
        if not any(a.detached_at is None for a in source.attachments):
            source.state = ResourceState.DETACHED.value
            source.detached_at = source.detached_at or now
            source.keep_until = now + timedelta(days=run.keep_days)
        route = str((run.options or {}).get("route") or "copy")
        stats = dict(run.stats or {})
        # the copy route's backup folder; another route names its own way back (an RDS snapshot) in the stats
        kept = f"backup in {run.backup_path}" if run.backup_path else str(stats.get("kept") or "no backup file")
        source.note = f"Replaced by {run.target_name} in upgrade run {run.id}; {kept}"
        source.updated_at = now
        if run.target is not None:
            with contextlib.suppress(ChangeoverError):
                run.target.size_bytes = engines.describe(database_url(ws, run.target)).size_bytes
        work = sum(float(str(stats.get(k) or 0)) for k in ("backup_seconds", "load_seconds", "verify_seconds"))
        if work > 0 and stats.get("source_bytes") and route == "copy":  # what the copy's estimates learn from
            stats["bytes_per_second"] = float(str(stats["source_bytes"])) / work
        stats["maintenance_seconds"] = journal.elapsed(run.maintenance_started_at, run.maintenance_ended_at)
        run.stats = stats
        run.state = RunState.DONE
        run.finished_at = now
        journal.release_lock(session, run.id)
        session.commit()
        summary = (
            f"run {run.id}: {source.name} -> {run.target_name}; maintenance window "
            f"{stats['maintenance_seconds'] or 0:.1f} s; {source.name} kept until "
            f"{source.keep_until.date().isoformat() if source.keep_until else '-'}; {kept}"
        )
    ws.audit("upgrade", "resource", source.name, "ok", summary)
    return summary


def _undo_maintenance_on(ctx: StepContext, report: Progress) -> None:
    out_of_maintenance(ctx, report)


#: the copy route's undo for a step that ran (or was running), latest step first: the steps not listed here
#: leave nothing to undo (the new database is marked failed by the rollback itself); :mod:`.routes` adds
#: the other routes' own
UNDO: dict[str, Callable[[StepContext, Progress], None]] = {
    "maintenance_on": _undo_maintenance_on,
}

#: the copy route's steps (and those other routes share); :mod:`.routes` adds the other routes' own
STEP_FUNCTIONS: dict[str, Callable[[StepContext, Progress], str]] = {
    "preflight": _preflight,
    "provision": _provision,
    "maintenance_on": _maintenance_on,
    "backup": _backup,
    "load": _load,
    "verify": _verify,
    "switch": _switch,
    "maintenance_off": _maintenance_off,
    "constraints": _constraints,
    "finish": _finish,
}
