"""The twelve-factor database upgrade as a journaled, resumable procedure.

1. pre-flight, 2. provision the new database, 3. maintenance on (then wait until the source is quiet),
4. back up the source, 5. load into the new database, 6. verify, 7. switch each deploy's variable to the
new handle (the point of no return), 8. maintenance off, 9. finish: the old database stays listed,
detached, with a keep-until date and a link to its backup.

Every step is journaled in the inventory (:mod:`.journal`) and idempotent, so a run interrupted at any
moment can be resumed (:func:`execute`) or, before the switch, rolled back (:func:`rollback`). A failure
or cancel before the switch rolls back: the deploys leave maintenance on the source, which never
changed, and the new database is marked failed for the admin to deprovision. From the switch on, a run
only goes forward; a failing step is retried, and if it keeps failing the run waits for a resume.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import URL

from .. import attachments, deploys, handles, paths, resources
from ..configstores import open_store
from ..context import DAYS, QUIET_SECONDS, Context, check_range, validate_name
from ..errors import Cancelled, ChangeoverError, Conflict, InvalidInput
from ..inventory.models import Deploy, Resource, ResourceState, UpgradeRun
from ..jobs import Progress, check_cancel, no_progress
from ..transfer.backup import clean_partials
from . import journal
from .quiesce import wait_until_quiet

logger = logging.getLogger(__name__)

STEPS: tuple[str, ...] = (
    "preflight",
    "provision",
    "maintenance_on",
    "backup",
    "load",
    "verify",
    "switch",
    "maintenance_off",
    "finish",
)
TITLES = {
    "preflight": "Pre-flight checks",
    "provision": "Provision the new database",
    "maintenance_on": "Maintenance on, wait until quiet",
    "backup": "Back up the current database",
    "load": "Load into the new database",
    "verify": "Verify the copy",
    "switch": "Switch the deploys (point of no return)",
    "maintenance_off": "Maintenance off",
    "finish": "Finish",
}
#: the share of a run's time each step takes, for the overall bar
WEIGHTS = {
    "preflight": 1,
    "provision": 2,
    "maintenance_on": 2,
    "backup": 35,
    "load": 40,
    "verify": 12,
    "switch": 4,
    "maintenance_off": 2,
    "finish": 2,
}
SWITCH = STEPS.index("switch")
DEFAULT_THROUGHPUT = 20_000_000  # bytes per second, until earlier runs measured better
FORWARD_RETRIES = 3
DATABASE_KINDS = ("postgresql", "mysql", "sqlite")


class UpgradeFailed(ChangeoverError):
    title = "Upgrade failed"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str


@dataclass(frozen=True)
class UpgradePlan:
    """What an upgrade would do, from pre-flight checks that changed nothing."""

    source: str
    source_kind: str
    source_handle: str  # masked
    source_version: str
    source_size: int
    source_tables: int
    source_rows: int
    target_name: str
    target_kind: str
    target_handle: str | None  # masked; None until provisioned
    target_server: str | None
    target_plan: str | None
    deploys: tuple[tuple[str, str], ...]  # (deploy, env var)
    steps: tuple[tuple[str, str], ...]  # (name, title)
    checks: tuple[Check, ...]
    estimate_seconds: float
    keep_days: int
    cross_engine: bool
    adaptations: tuple[str, ...] = ()
    not_carried: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    target_text: str | None = field(default=None, repr=False, compare=False)  # the full handle; never shown

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass(frozen=True)
class StepInfo:
    name: str
    title: str
    state: str  # waiting, running, done, failed, rolled_back, skipped
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    message: str
    data: dict[str, Any]


@dataclass(frozen=True)
class RunInfo:
    id: int
    source: str
    target: str
    target_server: str | None
    state: str  # running, failed, rolling_back, rolled_back, done
    step: str
    keep_days: int
    deploys: tuple[tuple[str, str], ...]
    actor: str
    created_at: datetime
    finished_at: datetime | None
    switched_at: datetime | None
    maintenance_seconds: float | None
    backup_path: str | None
    error: str
    stats: dict[str, Any]
    steps: tuple[StepInfo, ...]
    maintenance_started_at: datetime | None = None  # for a face that shows the window as it runs

    @property
    def switched(self) -> bool:
        return self.switched_at is not None

    @property
    def finished(self) -> bool:
        return self.state in journal.TERMINAL


@dataclass(frozen=True)
class RunEvent:
    """One thing that happened in a run, for a face to show: a step changed state, or progressed."""

    run_id: int
    step: str
    state: str  # running, progress, done, failed, retrying, rolled_back, switched
    message: str = ""
    done: int = 0
    total: int | None = None
    unit: str = ""


EventSink = Callable[[RunEvent], None]


def _no_events(event: RunEvent) -> None:
    pass


def _run_info(run: UpgradeRun) -> RunInfo:
    return RunInfo(
        id=run.id,
        source=run.source.name,
        target=run.target_name,
        target_server=run.target_server,
        state=run.state,
        step=run.step,
        keep_days=run.keep_days,
        deploys=tuple((d["deploy"], d["env_var"]) for d in run.deploys or []),
        actor=run.actor,
        created_at=run.created_at,
        finished_at=run.finished_at,
        switched_at=run.switched_at,
        maintenance_seconds=journal.elapsed(run.maintenance_started_at, run.maintenance_ended_at),
        backup_path=run.backup_path,
        error=run.error,
        stats=dict(run.stats or {}),
        steps=tuple(
            StepInfo(
                s.name, TITLES[s.name], s.state, s.attempts, s.started_at, s.finished_at, s.message, dict(s.data or {})
            )
            for s in run.steps
        ),
        maintenance_started_at=run.maintenance_started_at,
    )


def list_runs(ws: Context, *, unfinished: bool = False) -> list[RunInfo]:
    with ws.session() as session:
        query = select(UpgradeRun).order_by(UpgradeRun.id.desc())
        if unfinished:
            query = query.where(UpgradeRun.state.not_in(journal.TERMINAL))
        return [_run_info(r) for r in session.scalars(query)]


def show_run(ws: Context, run_id: int) -> RunInfo:
    with ws.session() as session:
        return _run_info(journal.get_run(session, run_id))


# -- plan ------------------------------------------------------------------------------------------


def _database_url(ws: Context, resource: Resource) -> URL:
    return ws.resolve_handle(resource).sqlalchemy_url()


def _throughput(ws: Context) -> float:
    """Bytes per second of earlier finished runs (backup+load+verify), else a cautious default."""
    with ws.session() as session:
        rates = [
            float(str(r.stats["bytes_per_second"]))
            for r in session.scalars(select(UpgradeRun).where(UpgradeRun.state == "done"))
            if (r.stats or {}).get("bytes_per_second")
        ]
    return sorted(rates)[len(rates) // 2] if rates else DEFAULT_THROUGHPUT


def plan_upgrade(
    ws: Context,
    source_name: str,
    *,
    to_handle: str | None = None,
    provision_on: str | None = None,
    plan: str | None = None,
    target_name: str | None = None,
    keep_days: int | None = None,
    quiet_timeout: float = 60.0,
) -> UpgradePlan:
    """Run the pre-flight checks and describe the upgrade; nothing is changed."""
    from ..providers import base as providers
    from ..transfer import tools

    if (to_handle is None) == (provision_on is None):
        raise InvalidInput(
            "Give the new database either by handle (--to) or by a server to provision on (--provision)."
        )
    keep = keep_days if keep_days is not None else int(ws.setting("retention_days"))
    check_range(keep, DAYS, "The days to keep the old database")
    check_range(quiet_timeout, QUIET_SECONDS, "The quiet timeout (seconds)")
    checks: list[Check] = []
    warnings: list[str] = []
    with ws.session() as session:
        source = ws.resource(session, source_name)
        if source.kind not in DATABASE_KINDS:
            raise InvalidInput(f"'{source.name}' is a {source.kind} resource; only databases are upgraded.")
        if source.state != ResourceState.ATTACHED:
            raise Conflict(f"'{source.name}' is {source.state}: only an attached database is upgraded.")
        deploys = tuple(
            (a.deploy.name, a.env_var) for a in sorted(source.attachments, key=lambda a: a.id) if a.detached_at is None
        )
        name = target_name or resources.free_name(ws, session, f"{source.name}-{ws.clock().strftime('%Y%m%d')}")
        validate_name(name, "resource")
        if target_name:
            resources.check_free_name(ws, session, name)
        source_url = _database_url(ws, source)
        source_masked = (
            handles.Handle(source.kind, source.scheme, source.handle, {"password": ""}).masked()
            if (source.secret_slots)
            else source.handle
        )
        for deploy in session.scalars(select(Deploy).where(Deploy.name.in_([d for d, _ in deploys]))):
            has_hook = bool(deploy.maintenance_on_cmd and deploy.maintenance_off_cmd) or bool(deploy.maintenance_var)
            checks.append(
                Check(
                    f"maintenance hook of {deploy.name}",
                    has_hook,
                    "maintenance on/off is configured"
                    if has_hook
                    else f"{deploy.name} has no maintenance hook, so writes could land after the backup: set one with "
                    "`changeover deploy edit --maintenance-var MAINTENANCE_MODE` (or the on/off commands)",
                )
            )
            try:
                open_store(deploy.config_kind, deploy.config_location).check_writable()
                checks.append(Check(f"config of {deploy.name}", True, f"{deploy.config_location} is writable"))
            except ChangeoverError as exc:
                checks.append(Check(f"config of {deploy.name}", False, exc.message))
    try:
        info = providers.describe(source_url)
        checks.append(Check("source reachable", True, f"{info.engine} {info.server_version}, {info.size_bytes} bytes"))
    except ChangeoverError as exc:
        raise UpgradeFailed(f"Pre-flight: the source database cannot be read: {exc.message}") from None
    target_kind: str
    target_masked: str | None = None
    if to_handle is not None:
        target = handles.parse(to_handle)
        if not target.is_database:
            raise InvalidInput(f"The target handle is a {target.kind} handle, not a database.")
        target_kind, target_masked = target.kind, target.masked()
        try:
            providers.check_empty(target.sqlalchemy_url())
            checks.append(Check("target empty", True, f"{target_masked} is reachable and empty"))
        except ChangeoverError as exc:
            checks.append(Check("target empty", False, exc.message))
    else:
        from ..servers import show_server

        assert provision_on is not None
        try:
            server = show_server(ws, provision_on)
        except ChangeoverError as exc:
            checks.append(Check("server reachable", False, exc.message))
            target_kind = source.kind
        else:
            target_kind = server.kind
            ok = server.version not in ("", "unreachable")
            checks.append(Check("server reachable", ok, f"{server.name}: {server.kind} {server.version}"))
            if plan and not server.has_plans:
                checks.append(Check("plan", False, f"{server.name} has no sizes or plans; provision without --plan"))
    cross = target_kind != info.engine
    if not cross and info.engine == "postgresql":
        major = int(info.server_version.split(".")[0])
        found = tools.postgres_tools(major)
        checks.append(
            Check(
                "tools",
                True,
                f"pg_dump/pg_restore {found[0].version_text}"
                if found
                else "pg_dump/pg_restore missing or older than the server: the built-in copy is used",
            )
        )
    elif not cross and info.engine == "mysql":
        found_my = tools.mysql_tools()
        checks.append(
            Check(
                "tools",
                True,
                "mariadb-dump and mariadb found" if found_my else "mariadb-dump missing: the built-in copy is used",
            )
        )
    # What could fail for lack of privilege, found before anything changes (across engines the report below
    # lists what the copy leaves behind).
    from ..transfer import preflight

    target_url = handles.parse(to_handle).sqlalchemy_url() if to_handle is not None and not cross else None
    checks += [
        Check(f.name, f.ok, f.detail) for f in preflight.check_source(source_url, target_url, cross_engine=cross)
    ]
    need = int(info.size_bytes * 1.2) + 10_000_000
    root = paths.backups_dir()
    probe = next((p for p in (root, *root.parents) if p.exists()), Path("/"))
    free = shutil.disk_usage(probe).free
    checks.append(
        Check(
            "disk for the backup",
            free >= need,
            f"{free // 1_000_000} MB free in {probe}, about {need // 1_000_000} MB needed",
        )
    )
    adaptations: tuple[str, ...] = ()
    not_carried: tuple[str, ...] = ()
    if cross:
        report = _cross_report(ws, source_url, to_handle, provision_on, target_kind)
        adaptations, not_carried = report
        if not_carried:
            warnings.append(f"{len(not_carried)} object(s) cannot be carried to {target_kind}; see the report.")
    if not deploys:
        warnings.append("No deploy uses this database: the switch will change no config.")
    estimate = info.size_bytes / _throughput(ws) * (1.0 if not cross else 1.5) + 5.0 * max(1, len(deploys))
    return UpgradePlan(
        source=source_name,
        source_kind=info.engine,
        source_handle=source_masked,
        source_version=info.server_version,
        source_size=info.size_bytes,
        source_tables=len(info.tables),
        source_rows=info.estimated_rows,
        target_name=name,
        target_kind=target_kind,
        target_handle=target_masked,
        target_server=provision_on,
        target_plan=plan,
        deploys=deploys,
        steps=tuple((s, TITLES[s]) for s in STEPS),
        checks=tuple(checks),
        estimate_seconds=estimate,
        keep_days=keep,
        cross_engine=cross,
        adaptations=adaptations,
        not_carried=not_carried,
        warnings=tuple(warnings),
        target_text=to_handle,
    )


def _cross_report(
    ws: Context, source_url: URL, to_handle: str | None, server: str | None, target_kind: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The cross-engine copy's report: adaptations, and what cannot be carried.

    A database to be provisioned does not exist yet, so the report is made against the server itself
    (its admin connection, or a throw-away in-memory SQLite), which gives the same type mapping.
    """
    from ..transfer import crossengine

    if to_handle is not None:
        target: URL | str = handles.parse(to_handle).sqlalchemy_url()
    elif target_kind == "sqlite":
        target = "sqlite://"
    else:
        from ..servers import _server, provider_for

        with ws.session() as session:
            provider = provider_for(_server(session, server or ""))
        target = provider.url  # type: ignore[attr-defined]
    report = crossengine.plan(source_url, target)
    return tuple(str(a) for a in report.adaptations), tuple(str(n) for n in report.not_carried)


# -- start -----------------------------------------------------------------------------------------


def start_upgrade(ws: Context, plan: UpgradePlan, *, quiet_timeout: float = 60.0) -> RunInfo:
    """Journal a new run for ``plan`` and take the resource's lock; nothing else changes yet.

    A target given by handle is registered as a resource now (its secret into the keyring).
    """
    check_range(quiet_timeout, QUIET_SECONDS, "The quiet timeout (seconds)")
    if not plan.ok:
        failed = "; ".join(f"{c.name}: {c.message}" for c in plan.checks if not c.ok)
        raise UpgradeFailed(f"Pre-flight checks failed, so nothing was started: {failed}")
    with ws.audited("start upgrade", "resource", plan.source) as details, ws.session() as session:
        source = ws.resource(session, plan.source)
        resources.check_free_name(ws, session, plan.target_name)
        now = ws.clock()
        run = UpgradeRun(
            source=source,
            target_name=plan.target_name,
            target_server=plan.target_server,
            target_plan=plan.target_plan,
            state="running",
            step=STEPS[0],
            keep_days=plan.keep_days,
            deploys=[{"deploy": d, "env_var": v} for d, v in plan.deploys],
            options={"quiet_timeout": quiet_timeout, "cross_engine": plan.cross_engine},
            stats={"estimate_seconds": plan.estimate_seconds, "source_bytes": plan.source_size},
            error="",
            actor=ws.actor,
            created_at=now,
            updated_at=now,
            steps=journal.new_steps(STEPS),
        )
        session.add(run)
        session.flush()
        journal.take_lock(ws, session, source.id, run.id, source.name)
        if plan.target_text is not None:
            target = resources.add_row(ws, session, plan.target_name, handles.parse(plan.target_text))
            run.target = target
        session.commit()
        details.append(f"run {run.id} to {plan.target_name}")
        return _run_info(run)


# -- execute ---------------------------------------------------------------------------------------


@dataclass
class _Context:
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
            source = _database_url(self.ws, run.source)
            target = _database_url(self.ws, run.target) if run.target is not None else None
            return source, target


def execute(
    ws: Context,
    run_id: int,
    progress: Progress = no_progress,
    cancel: threading.Event | None = None,
    *,
    on_event: EventSink = _no_events,
    on_failure: str = "rollback",
) -> RunInfo:
    """Run (or resume) an upgrade to its end.

    Before the switch a failure rolls back (``on_failure="rollback"``) or leaves the run failed for the
    admin to retry or roll back (``"pause"``, used by the wizard); a cancel always rolls back. From the
    switch on, each step is retried; a step that keeps failing leaves the run failed, to be resumed.
    Returns the run's final state; raises the error that ended a run that did not finish.
    """
    clean_partials()  # a killed run's half-written backup folder
    with ws.session() as session:
        run = journal.get_run(session, run_id)
        if run.state in journal.TERMINAL:
            raise Conflict(f"Upgrade run {run_id} is already {run.state.replace('_', ' ')}.")
        if run.state in ("rolling_back",):
            raise Conflict(f"Upgrade run {run_id} was being rolled back: finish that with `--rollback {run_id}`.")
        journal.take_lock(ws, session, run.source_id, run.id, run.source.name)
        run.state = "running"
        run.error = ""
        session.commit()
    ctx = _Context(ws, run_id, progress, cancel, on_event)
    with journal.heartbeat(ws, run_id):
        for index, name in enumerate(STEPS):
            info = ctx.run()
            step = info.steps[index]
            if step.state in ("done", "skipped"):
                continue
            try:
                _run_step(ctx, index, name)
            except ChangeoverError as exc:
                return _after_failure(ctx, index, name, exc, on_failure)
            except Exception as exc:  # a bug, not a crash: handle it like any failure, so nothing stays half-done
                logger.exception("unexpected error in upgrade run %s at %s", run_id, name)
                unexpected = UpgradeFailed(
                    f"An unexpected error ({type(exc).__name__}) stopped this step; see the log."
                )
                return _after_failure(ctx, index, name, unexpected, on_failure)
    return ctx.run()


def _run_step(ctx: _Context, index: int, name: str) -> None:
    attempts = FORWARD_RETRIES if index >= SWITCH else 1
    for attempt in range(1, attempts + 1):
        switched = ctx.run().switched
        if not switched:  # every step up to the switch itself starts at a safe point
            check_cancel(ctx.cancel, "The upgrade")
        journal.update_step(ctx.ws, ctx.run_id, name, state="running", message="", started=True)
        ctx.emit(RunEvent(ctx.run_id, name, "running", TITLES[name]))

        def report(done: int, total: int | None, unit: str, message: str, _name: str = name) -> None:
            ctx.progress(done, total, unit, message)
            ctx.emit(RunEvent(ctx.run_id, _name, "progress", message, done, total, unit))

        try:
            message = STEP_FUNCTIONS[name](ctx, report) or ""
        except ChangeoverError as exc:
            if attempt == attempts or isinstance(exc, Cancelled) and not switched:
                raise
            journal.update_step(ctx.ws, ctx.run_id, name, state="retrying", message=exc.message)
            ctx.emit(RunEvent(ctx.run_id, name, "retrying", f"{exc.message} (attempt {attempt} of {attempts})"))
            time.sleep(min(2.0**attempt, 8.0))
            continue
        journal.update_step(ctx.ws, ctx.run_id, name, state="done", message=message, finished=True)
        ctx.emit(RunEvent(ctx.run_id, name, "done", message))
        return


def _after_failure(ctx: _Context, index: int, name: str, exc: ChangeoverError, on_failure: str) -> RunInfo:
    journal.update_step(ctx.ws, ctx.run_id, name, state="failed", message=exc.message, finished=True)
    journal.expire_lease(ctx.ws, ctx.run_id)  # nobody drives a stopped run: another process may resume it now
    ctx.emit(RunEvent(ctx.run_id, name, "failed", exc.message))
    source = ctx.run().source
    if ctx.run().switched:  # past the point of no return: only forward
        journal.update_run(ctx.ws, ctx.run_id, state="failed", error=exc.message)
        ctx.ws.audit(
            "upgrade", "resource", source, "failed", f"run {ctx.run_id} at {name} (after the switch): {exc.message}"
        )
        raise UpgradeFailed(
            f"Upgrade run {ctx.run_id} stopped at '{TITLES[name]}' after the switch: {exc.message} "
            "The deploys already use the new database; fix the cause and run "
            f"`changeover upgrade --resume {ctx.run_id}`.",
        ) from None
    if isinstance(exc, Cancelled) or on_failure == "rollback":
        what = "was cancelled" if isinstance(exc, Cancelled) else f"failed at '{TITLES[name]}'"
        try:
            rollback(ctx.ws, ctx.run_id, ctx.progress, on_event=ctx.emit, reason=exc.message)
        except ChangeoverError as undo:
            # Keep the first failure in the message: the rollback's own error alone hides why the run stopped.
            journal.update_run(ctx.ws, ctx.run_id, error=f"{exc.message} Rollback: {undo.message}")
            ctx.ws.audit("upgrade rollback", "resource", source, "failed", f"run {ctx.run_id}: {undo.message}")
            raise UpgradeFailed(
                f"Upgrade run {ctx.run_id} {what}: {exc.message} Rolling it back did not finish: {undo.message} "
                f"Fix that and run `changeover upgrade --rollback {ctx.run_id}`; '{source}' was not changed.",
            ) from None
        text = (
            f"Upgrade run {ctx.run_id} {what}: {exc.message} It was rolled back: the deploys are out of "
            f"maintenance on '{source}', which was not changed; the new database is marked failed."
        )
        raise Cancelled(text) if isinstance(exc, Cancelled) else UpgradeFailed(text)
    journal.update_run(ctx.ws, ctx.run_id, state="failed", error=exc.message)
    ctx.ws.audit("upgrade", "resource", source, "failed", f"run {ctx.run_id} at {name}: {exc.message}")
    raise UpgradeFailed(
        f"Upgrade run {ctx.run_id} failed at '{TITLES[name]}': {exc.message} Retry it, or roll it back.",
    )


# -- the steps -------------------------------------------------------------------------------------


def _preflight(ctx: _Context, report: Progress) -> str:
    from ..providers import base as providers

    report(0, None, "", "Checking the source, the target and the deploys")
    run = ctx.run()
    source_url, target_url = ctx.urls()
    info = providers.describe(source_url)
    ctx.save("preflight", size_bytes=info.size_bytes, tables=len(info.tables), rows=info.estimated_rows)
    with ctx.ws.session() as session:
        for deploy_name, _ in run.deploys:
            deploy = ctx.ws.deploy(session, deploy_name)
            open_store(deploy.config_kind, deploy.config_location).check_writable()
    step = run.steps[STEPS.index("load")]
    if target_url is not None and step.state == "waiting":
        providers.check_empty(target_url)
    return f"{info.engine} {info.server_version}, {info.size_bytes:,} bytes in {len(info.tables)} tables"


def _provision(ctx: _Context, report: Progress) -> str:
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
    from ..servers import provision

    report(0, None, "", f"Provisioning {run.target} on {run.target_server}")
    with ctx.ws.session() as session:
        plan = journal.get_run(session, ctx.run_id).target_plan
    created = provision(ctx.ws, run.target_server or "", run.target, plan=plan)
    with ctx.ws.session() as session:
        row = journal.get_run(session, ctx.run_id)
        row.target = ctx.ws.resource(session, created.name)
        session.commit()
    return f"{created.name}: {created.handle}"


def _maintenance_on(ctx: _Context, report: Progress) -> str:
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
    return f"{len(done)} deploy(s) in maintenance; the source is quiet"


def _option(ctx: _Context, key: str, default: Any) -> Any:
    with ctx.ws.session() as session:
        return (journal.get_run(session, ctx.run_id).options or {}).get(key, default)


def _backup(ctx: _Context, report: Progress) -> str:
    from ..transfer.backup import BackupParams, backup
    from ..transfer.manifest import BackupInvalid, read, verify_artifact

    run = ctx.run()
    if run.backup_path:
        try:
            manifest = read(Path(run.backup_path))
            verify_artifact(Path(run.backup_path), manifest)
            return f"kept the backup in {run.backup_path}"
        except BackupInvalid:
            pass
    source_url, _ = ctx.urls()
    started = time.monotonic()
    result = backup(BackupParams(source_url, resource=run.source), report, ctx.cancel)
    seconds = time.monotonic() - started
    size = result.artifact.stat().st_size
    journal.update_run(
        ctx.ws, ctx.run_id, backup_path=str(result.folder), stats={"backup_seconds": seconds, "backup_bytes": size}
    )
    return f"{result.manifest.format}, {size:,} bytes in {result.folder}"


def _load(ctx: _Context, report: Progress) -> str:
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

        loaded = load(LoadParams(Path(run.backup_path or ""), target_url, verify=False), report, ctx.cancel)
        rows = loaded.rows
    seconds = time.monotonic() - started
    journal.update_run(ctx.ws, ctx.run_id, stats={"load_seconds": seconds, "rows": rows})
    return f"{rows:,} rows in {seconds:.1f} s"


def _verify(ctx: _Context, report: Progress) -> str:
    """Compare the new database with the source as it was backed up (counts, checksums, sequences).

    The backup's manifest holds the source's checksums, taken during maintenance while the source was quiet,
    so only the new database is read in full; the source's row counts are checked again to prove it has not
    changed since. A backup without checksums falls back to checksumming both sides.
    """
    from ..transfer.manifest import read
    from ..transfer.typemap import display_url
    from ..transfer.verify import (
        TableSum,
        checksum_database,
        compare,
        sequence_positions,
        sequence_states,
        verify,
    )

    source_url, target_url = ctx.urls()
    assert target_url is not None
    run = ctx.run()
    started = time.monotonic()
    manifest = read(Path(run.backup_path or ""))
    if all(t.checksum for t in manifest.tables):
        source_sums = {t.name: TableSum(t.name, t.rows, t.checksum or "") for t in manifest.tables}
        target_sums = checksum_database(target_url, progress=report, cancel=ctx.cancel)
        _check_source_unchanged(source_url, manifest.table_rows())
        result = compare(
            f"{display_url(source_url)} (as backed up)",
            display_url(target_url),
            source_sums,
            target_sums,
            sequence_positions(source_url),
            sequence_positions(target_url),
            # every sequence, owned or not, at its position (SQLite has none of its own)
            **(
                {"source_sequences": sequence_states(source_url), "target_sequences": sequence_states(target_url)}
                if target_url.get_backend_name() != "sqlite" and source_url.get_backend_name() != "sqlite"
                else {}
            ),
        )
    else:
        result = verify(source_url, target_url, progress=report, cancel=ctx.cancel)
    seconds = time.monotonic() - started
    journal.update_run(ctx.ws, ctx.run_id, stats={"verify_seconds": seconds, "verified": result.summary()})
    return result.summary()


def _check_source_unchanged(source_url: URL, rows: dict[str, int]) -> None:
    """Exact row counts of the source against the backup's: a write that slipped past maintenance shows here."""
    from ..transfer.backup import exact_counts
    from ..transfer.verify import VerificationFailed, VerifyReport

    now = exact_counts(source_url)
    changed = sorted(name for name in set(rows) | set(now) if rows.get(name) != now.get(name))
    if changed:
        raise VerificationFailed(
            f"The source changed after its backup (row counts of {', '.join(changed)}): something still writes "
            "to it despite maintenance mode. Nothing was switched; find the writer and retry.",
            VerifyReport("source", "backup", ()),
        )


def _switch(ctx: _Context, report: Progress) -> str:
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
    return f"{len(run.deploys)} deploy(s) now use {run.target}"


def _passed_point_of_no_return(ws: Context, run_id: int) -> bool:
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


def _out_of_maintenance(ctx: _Context, report: Progress) -> list[str]:
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


def _maintenance_off(ctx: _Context, report: Progress) -> str:
    off = _out_of_maintenance(ctx, report)
    journal.update_run(ctx.ws, ctx.run_id, maintenance_ended_at=ctx.ws.clock())
    return f"{len(off)} deploy(s) out of maintenance"


def _finish(ctx: _Context, report: Progress) -> str:
    from ..providers import base as providers

    ws = ctx.ws
    with ws.session() as session:
        run = journal.get_run(session, ctx.run_id)
        now = ws.clock()
        source = run.source
        if not any(a.detached_at is None for a in source.attachments):
            source.state = ResourceState.DETACHED.value
            source.detached_at = source.detached_at or now
            source.keep_until = now + timedelta(days=run.keep_days)
        source.note = f"Replaced by {run.target_name} in upgrade run {run.id}; backup in {run.backup_path}"
        source.updated_at = now
        if run.target is not None:
            with contextlib.suppress(ChangeoverError):
                run.target.size_bytes = providers.describe(_database_url(ws, run.target)).size_bytes
        stats = dict(run.stats or {})
        work = sum(float(str(stats.get(k) or 0)) for k in ("backup_seconds", "load_seconds", "verify_seconds"))
        if work > 0 and stats.get("source_bytes"):
            stats["bytes_per_second"] = float(str(stats["source_bytes"])) / work
        stats["maintenance_seconds"] = journal.elapsed(run.maintenance_started_at, run.maintenance_ended_at)
        run.stats = stats
        run.state = "done"
        run.finished_at = now
        journal.release_lock(session, run.id)
        session.commit()
        summary = (
            f"run {run.id}: {source.name} -> {run.target_name}; maintenance window "
            f"{stats['maintenance_seconds'] or 0:.1f} s; {source.name} kept until "
            f"{source.keep_until.date().isoformat() if source.keep_until else '-'}; backup in {run.backup_path}"
        )
    ws.audit("upgrade", "resource", source.name, "ok", summary)
    return summary


STEP_FUNCTIONS: dict[str, Callable[[_Context, Progress], str]] = {
    "preflight": _preflight,
    "provision": _provision,
    "maintenance_on": _maintenance_on,
    "backup": _backup,
    "load": _load,
    "verify": _verify,
    "switch": _switch,
    "maintenance_off": _maintenance_off,
    "finish": _finish,
}


# -- rollback --------------------------------------------------------------------------------------


def rollback(
    ws: Context,
    run_id: int,
    progress: Progress = no_progress,
    *,
    on_event: EventSink = _no_events,
    reason: str = "rolled back by the admin",
) -> RunInfo:
    """Undo an unfinished run that has not switched: deploys out of maintenance, new database marked failed.

    The source was never changed, so nothing needs restoring. Idempotent: safe to repeat after a crash.
    """
    clean_partials()
    with ws.session() as session:
        run = journal.get_run(session, run_id)
        if run.state in journal.TERMINAL:
            raise Conflict(f"Upgrade run {run_id} is already {run.state.replace('_', ' ')}.")
        if _passed_point_of_no_return(ws, run_id):
            raise Conflict(
                f"Upgrade run {run_id} has passed the point of no return (the deploys use the new database): "
                f"resume it with `changeover upgrade --resume {run_id}` instead.",
            )
        journal.take_lock(ws, session, run.source_id, run.id, run.source.name)
        run.state = "rolling_back"
        session.commit()
    _out_of_maintenance(_Context(ws, run_id, progress, None, on_event), progress)
    with ws.session() as session:
        run = journal.get_run(session, run_id)
        now = ws.clock()
        if run.target is not None and run.target.state not in (ResourceState.DEPROVISIONED, ResourceState.ATTACHED):
            run.target.state = ResourceState.FAILED.value
            run.target.note = f"Upgrade run {run.id} was rolled back; deprovision this database when you like."
            run.target.updated_at = now
        for step in run.steps:
            if step.state in ("done", "running", "retrying", "failed"):
                step.state = "rolled_back" if step.state == "done" else step.state
            if step.state in ("running", "retrying"):
                step.state = "failed"
        run.state = "rolled_back"
        run.error = reason
        run.finished_at = now
        if run.maintenance_started_at and not run.maintenance_ended_at:
            run.maintenance_ended_at = now
        journal.release_lock(session, run.id)
        session.commit()
        source = run.source.name
    ws.audit("upgrade rollback", "resource", source, "ok", f"run {run_id}: {reason}")
    on_event(RunEvent(run_id, "rollback", "rolled_back", reason))
    return show_run(ws, run_id)
