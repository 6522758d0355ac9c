"""Planning an upgrade: the pre-flight checks, the estimate, and the run journaled to start; nothing else changes."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import URL, make_url

from .. import engines, handles, paths, resources
from ..configstores import open_store
from ..context import DAYS, QUIET_SECONDS, Context, check_range, validate_name
from ..errors import ChangeoverError, Conflict, InvalidInput
from ..inventory.models import Deploy, ResourceState, UpgradeRun
from . import journal
from .runs import RunInfo, run_info
from .states import ROUTES, TITLES, RouteName, RunState, UpgradeFailed, route_steps
from .steps import database_url

logger = logging.getLogger(__name__)

DEFAULT_THROUGHPUT = 20_000_000  # bytes per second, until earlier runs measured better
#: bytes of the catalog's size per second of backup+load+verify of a same-engine upgrade, measured by
#: benchmarks/run.py (docs/benchmarks.md: 2 cores, busy); a machine's own runs of the engine replace them
ENGINE_THROUGHPUT = {"postgresql": 16_000_000.0, "mysql": 6_500_000.0}
#: a same-engine window's speed (catalog bytes per second, backup+load+verify) over the speed at which the source
#: hashes a sample of its largest table (:func:`~changeover.core.transfer.verify.native.hash_rate`), measured by
#: benchmarks/run.py at 3 million rows (docs/benchmarks.md): the first run's estimate follows this machine and
#: its load, read at plan time, rather than a benchmark machine's
WINDOW_PER_HASH = {"postgresql": 0.41, "mysql": 0.34}
CROSS_ENGINE_FACTOR = 1.5  # a cross-engine copy converts every value on its way
DEFAULT_DEPLOY_SECONDS = 0.5  # maintenance on and off, the switch and the restart hook of one deploy
DATABASE_KINDS = engines.NAMES


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str


@dataclass(frozen=True)
class Route:
    """A way to carry the database over, with its estimated maintenance window."""

    name: str  # a states.RouteName: copy | snapshot | online
    text: str
    estimate_seconds: float
    shortest: bool = False
    available: bool = True  # False: shown with the reason, and a plan for it fails its pre-flight
    reason: str = ""  # why it is not available, and what would make it so


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
    target_engine: str | None = None  # the engine of a new cloud instance (RDS), the source's own
    routes: tuple[Route, ...] = ()  # where another route exists (RDS to RDS, online): each with its estimate
    route: str = RouteName.COPY  # the route this plan takes (its steps are ``steps``)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


# -- plan ------------------------------------------------------------------------------------------


#: a run whose copying took less than this measured its start-up, not its speed: it sets no throughput
MIN_MEASURED_SECONDS = 5.0


def _work_seconds(stats: dict[str, object]) -> float:
    return sum(float(str(stats.get(k) or 0)) for k in ("backup_seconds", "load_seconds", "verify_seconds"))


def _measured_runs(ws: Context) -> list[dict[str, object]]:
    """The stats of earlier finished runs long enough to measure a speed."""
    with ws.session() as session:
        return [
            dict(r.stats or {})
            for r in session.scalars(select(UpgradeRun).where(UpgradeRun.state == RunState.DONE.value))
            if (r.stats or {}).get("bytes_per_second") and _work_seconds(r.stats or {}) >= MIN_MEASURED_SECONDS
        ]


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _throughput(
    ws: Context, engine: str | None = None, cross: bool = False, hashed: Callable[[], float | None] | None = None
) -> float:
    """Bytes per second of backup+load+verify: the median of earlier runs of the same engine and kind of copy,
    else, for a same-engine copy, the source's hash rate now (``hashed()``) scaled by :data:`WINDOW_PER_HASH`,
    else this engine's rate measured on a benchmark machine (:data:`ENGINE_THROUGHPUT`), else of any earlier
    run, else a default."""
    runs = _measured_runs(ws)
    alike = [
        float(str(r["bytes_per_second"]))
        for r in runs
        if engine is not None and r.get("source_kind") == engine and bool(r.get("cross_engine")) == cross
    ]
    if alike:
        return _median(alike)
    if not cross and hashed is not None and engine in WINDOW_PER_HASH and (rate := hashed()) is not None:
        return rate * WINDOW_PER_HASH[engine]
    if engine in ENGINE_THROUGHPUT:
        return ENGINE_THROUGHPUT[engine] / (CROSS_ENGINE_FACTOR if cross else 1.0)
    rates = [float(str(r["bytes_per_second"])) for r in runs]
    return _median(rates) if rates else DEFAULT_THROUGHPUT


def _deploy_seconds(ws: Context) -> float:
    """Seconds per deploy of the window beyond the copy (hooks, waiting until quiet, the switch): earlier runs'
    median, else a default."""
    spent = [
        (float(str(r["maintenance_seconds"])) - _work_seconds(r)) / max(1, int(str(r.get("deploys") or 1)))
        for r in _measured_runs(ws)
        if r.get("maintenance_seconds") is not None
    ]
    return max(0.0, _median(spent)) if spent else DEFAULT_DEPLOY_SECONDS


def estimate_window(
    ws: Context,
    engine: str,
    size_bytes: int,
    deploys: int,
    *,
    cross: bool,
    hashed: Callable[[], float | None] | None = None,
) -> float:
    """The maintenance window an upgrade of ``size_bytes`` (the catalog's size) should take on this machine;
    ``hashed`` times a sample hash of the source when no earlier run measured this kind of copy."""
    return size_bytes / _throughput(ws, engine, cross, hashed) + _deploy_seconds(ws) * max(1, deploys)


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
    route: str = RouteName.COPY,
) -> UpgradePlan:
    """Run the pre-flight checks and describe the upgrade by ``route``; nothing is changed.

    The plan lists every route this upgrade could take (:attr:`UpgradePlan.routes`, each available or not,
    with the reason); a route that is not available fails a pre-flight check.
    """

    if (to_handle is None) == (provision_on is None):
        raise InvalidInput(
            "Give the new database either by handle (--to) or by a server to provision on (--provision)."
        )
    if route not in ROUTES:
        raise InvalidInput(f"There is no upgrade route '{route}': choose one of {', '.join(ROUTES)}.")
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
        source_url = database_url(ws, source)
        source_server = source.server.name if source.server and source.origin == "provisioned" else None
        source_on_cloud = bool(source.server and source.server.kind == "rds" and source_server)
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
        info = engines.describe(source_url)
        checks.append(Check("source reachable", True, f"{info.engine} {info.server_version}, {info.size_bytes} bytes"))
    except ChangeoverError as exc:
        raise UpgradeFailed(f"Pre-flight: the source database cannot be read: {exc.message}") from None
    target_kind: str
    target_masked: str | None = None
    target_engine: str | None = None
    if to_handle is not None:
        target = handles.parse(to_handle)
        if not target.is_database:
            raise InvalidInput(f"The target handle is a {target.kind} handle, not a database.")
        target_kind, target_masked = target.kind, target.masked()
        try:
            engines.check_empty(target.sqlalchemy_url())
            checks.append(Check("target empty", True, f"{target_masked} is reachable and empty"))
        except ChangeoverError as exc:
            checks.append(Check("target empty", False, exc.message))
    else:
        from ..providers import rds
        from ..servers import CLOUD_KINDS, show_server

        assert provision_on is not None
        try:
            server = show_server(ws, provision_on)
        except ChangeoverError as exc:
            checks.append(Check("server reachable", False, exc.message))
            target_kind = source.kind
        else:
            target_kind = server.kind
            if server.kind in CLOUD_KINDS:  # a new instance runs the source's engine
                target_kind = info.engine
                if engines.of(info.engine).file_based:
                    checks.append(Check("engine", False, rds.NO_SQLITE))
                else:
                    target_engine = rds.engine_for(info.engine, info.server_version)
                if not plan:
                    checks.append(Check("plan", False, f"{server.name} needs an instance class: give --plan"))
            ok = server.version not in ("", "unreachable")
            checks.append(Check("server reachable", ok, f"{server.name}: {server.kind} {server.version}"))
            if plan and not server.has_plans:
                checks.append(Check("plan", False, f"{server.name} has no sizes or plans; provision without --plan"))
    cross = target_kind != info.engine
    from ..transfer import backup

    note = None if cross else backup.tools_note(info.engine, info.server_version)
    if note is not None:
        checks.append(Check("tools", True, note))
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
    from ..transfer.verify.native import hash_rate

    estimate = estimate_window(
        ws, info.engine, info.size_bytes, len(deploys), cross=cross, hashed=lambda: hash_rate(source_url, info)
    )
    routes: tuple[Route, ...] = ()
    if source_on_cloud and provision_on == source_server and target_engine is not None:
        refusal = _snapshot_refusal(ws, source_name, plan)
        switching = 5.0 * max(1, len(deploys))
        routes, verdict = _rds_routes(source_name, plan, info.size_bytes, estimate, switching, refusal)
        warnings.append(verdict)
    if not engines.of(info.engine).file_based:  # online by replication, available or not (with the reason)
        target_for_online = handles.parse(to_handle).sqlalchemy_url() if to_handle is not None else None
        routes = (*routes, _online_route(ws, source_url, target_for_online, target_kind, info, len(deploys)))
    if routes and not any(r.name == RouteName.COPY for r in routes):  # a choice always includes the default
        routes = (Route(RouteName.COPY, "Changeover's copy, verified, during maintenance", estimate), *routes)
    if route != RouteName.COPY:
        chosen = next((r for r in routes if r.name == route), None)
        if chosen is None and route == RouteName.SNAPSHOT:
            why = _snapshot_not_offered(source_name, source_server if source_on_cloud else None, provision_on)
            checks.append(Check("route", False, why))
        elif chosen is None:
            checks.append(Check("route", False, f"the {route} route is not offered for this upgrade"))
        else:
            checks.append(Check("route", chosen.available, chosen.reason or chosen.text))
            estimate = chosen.estimate_seconds
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
        steps=tuple((s, TITLES[s]) for s in route_steps(route)),
        checks=tuple(checks),
        estimate_seconds=estimate,
        keep_days=keep,
        cross_engine=cross,
        adaptations=adaptations,
        not_carried=not_carried,
        warnings=tuple(warnings),
        target_text=to_handle,
        target_engine=target_engine,
        routes=routes,
        route=route,
    )


def _online_route(
    ws: Context, source_url: URL, target_url: URL | None, target_kind: str, info: engines.DatabaseInfo, deploys: int
) -> Route:
    """The online route: available when the replication's every requirement holds, else with the failed ones and
    their fixes. Its window is the drain, the exact row counts and the deploys' switch: not the copy's size."""
    from ..replication import strategy_for
    from . import online_steps

    window = online_steps.online_window(info.estimated_rows, _deploy_seconds(ws) * max(1, deploys))
    text = "Replication while the app runs; maintenance only to drain and switch"
    try:
        strategy = strategy_for(info.engine)
    except ImportError:  # a strategy listed but not installed in this build
        strategy = None
    if strategy is None or target_kind != info.engine:
        why = (
            f"online needs the same engine on both sides ({info.engine} to {target_kind}): take the copy route"
            if strategy is not None
            else f"Changeover cannot replicate {info.engine}"
        )
        return Route(RouteName.ONLINE, text, window, available=False, reason=why)
    try:
        found = strategy.requirements(source_url, target_url)
    except ChangeoverError as exc:
        return Route(RouteName.ONLINE, text, window, available=False, reason=exc.message)
    missing = [f"{r.name}: {r.detail}" for r in found if not r.ok]
    return Route(RouteName.ONLINE, text, window, available=not missing, reason="; ".join(missing))


def _rds_routes(
    source: str, plan: str | None, size: int, copy_seconds: float, switch_seconds: float, refusal: str = ""
) -> tuple[tuple[Route, ...], str]:
    """Changeover's copy against RDS's own snapshot and restore, for an RDS instance onto a larger one:
    both routes with their estimated maintenance window, and which keeps it shorter, in words. ``refusal``
    says why the snapshot route cannot be taken ("" when it can)."""
    from ..formats import human_seconds
    from ..providers import rds

    new = rds.plan_text(plan or "")
    snapshot_seconds = rds.snapshot_restore_seconds(size) + switch_seconds
    copy_shorter = copy_seconds <= snapshot_seconds
    copy = Route("copy", f"Changeover's copy into a new {new} instance, verified", copy_seconds, copy_shorter)
    snapshot = Route(
        "snapshot",
        f"RDS's snapshot of {source} restored as a new {new} instance",
        snapshot_seconds,
        not copy_shorter,
        available=not refusal,
        reason=refusal,
    )
    best, other = (copy, snapshot) if copy_shorter else (snapshot, copy)
    verdict = (
        f"{best.text} keeps the maintenance window shorter: about {human_seconds(best.estimate_seconds)}, against "
        f"about {human_seconds(other.estimate_seconds)} for {other.text[0].lower()}{other.text[1:]}."
    )
    return (copy, snapshot), verdict


def _snapshot_refusal(ws: Context, source_name: str, plan: str | None) -> str:
    """Why the snapshot route cannot take this RDS source onto ``plan`` ("" when it can), from the instance
    as RDS describes it now."""
    from ..providers import rds
    from ..servers import provider_for

    with ws.session() as session:
        source = ws.resource(session, source_name)
        provider = provider_for(source.server) if source.server is not None else None
        database = make_url(source.handle).database or ""
    if not isinstance(provider, rds.RDSProvider):
        return f"{source_name} is not on an RDS server"
    try:
        instance = provider.instance_of(source_name, database)
    except ChangeoverError as exc:
        return f"the RDS instance of {source_name} cannot be read: {exc.message}"
    return rds.snapshot_refusal(instance, plan)


def _snapshot_not_offered(source: str, source_server: str | None, provision_on: str | None) -> str:
    """Why an upgrade offers no snapshot route at all, and what would."""
    offered = "the snapshot route is not offered for this upgrade"
    if source_server is None:
        return (
            f"{offered}: it goes from an RDS instance Changeover provisioned to a new one on the same RDS server, "
            f"and {source} is not such an instance; take the copy route"
        )
    if provision_on != source_server:
        return (
            f"{offered}: it restores {source}'s snapshot on its own RDS server, so upgrade with --provision "
            f"{source_server} --plan CLASS (a snapshot is not restored elsewhere or into an existing database)"
        )
    return f"{offered}: the new instance must run the source's engine"


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
    elif engines.of(target_kind).file_based:
        target = "sqlite://"
    else:
        from ..servers import provider_named

        target = provider_named(ws, server or "").url  # type: ignore[attr-defined]
    report = crossengine.plan(source_url, target)
    return tuple(str(a) for a in report.adaptations), tuple(str(n) for n in report.not_carried)


# -- start -----------------------------------------------------------------------------------------


def plan_record(plan: UpgradePlan) -> dict[str, object]:
    """The plan as the run's change record keeps it (handles masked; never the target's full handle)."""
    return {
        "source_kind": plan.source_kind,
        "source_handle": plan.source_handle,
        "source_version": plan.source_version,
        "source_size": plan.source_size,
        "source_tables": plan.source_tables,
        "source_rows": plan.source_rows,
        "target_kind": plan.target_kind,
        "target_handle": plan.target_handle,
        "steps": [{"name": n, "title": t} for n, t in plan.steps],
        "checks": [{"name": c.name, "ok": c.ok, "message": c.message} for c in plan.checks],
        "estimate_seconds": plan.estimate_seconds,
        "route": plan.route,
        "adaptations": list(plan.adaptations),
        "not_carried": list(plan.not_carried),
        "warnings": list(plan.warnings),
    }


#: a run's options a route reads (the online route's lag and drain limits), with what they may be
ROUTE_OPTIONS = {
    "max_lag_seconds": (0.0, 3600.0),
    "max_lag_bytes": (0.0, 1e12),
    "catch_up_timeout": (1.0, 7 * 86400.0),
    "drain_timeout": (1.0, 3600.0),
}


def start_upgrade(
    ws: Context, plan: UpgradePlan, *, quiet_timeout: float = 60.0, options: dict[str, float] | None = None
) -> RunInfo:
    """Journal a new run for ``plan`` and take the resource's lock; nothing else changes yet.

    A target given by handle is registered as a resource now (its secret into the keyring). ``options``
    are a route's own (:data:`ROUTE_OPTIONS`: the online route's ``max_lag_seconds``, ``drain_timeout``...).
    """
    for key, value in (options or {}).items():
        if key not in ROUTE_OPTIONS:
            raise InvalidInput(f"There is no run option '{key}': choose one of {', '.join(ROUTE_OPTIONS)}.")
        check_range(value, ROUTE_OPTIONS[key], f"The run option {key}")
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
            state=RunState.RUNNING,
            step=plan.steps[0][0],
            keep_days=plan.keep_days,
            deploys=[{"deploy": d, "env_var": v} for d, v in plan.deploys],
            options={
                "quiet_timeout": quiet_timeout,
                "cross_engine": plan.cross_engine,
                "engine": plan.target_engine,
                "plan": plan_record(plan),
                "route": plan.route,
                **(options or {}),
            },
            stats={
                "estimate_seconds": plan.estimate_seconds,
                "source_bytes": plan.source_size,
                # what the next runs' estimates learn from: rates of the same engine and kind of copy
                "source_kind": plan.source_kind,
                "cross_engine": plan.cross_engine,
                "deploys": len(plan.deploys),
            },
            error="",
            actor=ws.actor,
            created_at=now,
            updated_at=now,
            steps=journal.new_steps(tuple(name for name, _ in plan.steps)),
        )
        session.add(run)
        session.flush()
        journal.take_lock(ws, session, source.id, run.id, source.name)
        if plan.target_text is not None:
            target = resources.add_row(ws, session, plan.target_name, handles.parse(plan.target_text))
            run.target = target
        session.commit()
        details.append(f"run {run.id} to {plan.target_name}")
        return run_info(run)
