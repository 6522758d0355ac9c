"""RDS's own upgrade route: the source instance's snapshot, restored as the new, larger instance.

The route's steps are preflight, maintenance on, **snapshot**, **restore**, verify, switch, maintenance off
and finish (:data:`.states.ROUTES`); this module holds the two of its own and their undo. Both are
journaled and idempotent: each writes the identifier it is about to ask RDS for into its step's data
before the call, so a run resumed after a kill carries on with the snapshot or instance it started
(RDS answers "already exists"; the tags prove it is this run's) instead of making a second one.

The snapshot is taken during maintenance, when the source is quiet, so the restored instance holds what
the source holds; verify then reads both sides (there is no backup file to compare with). The snapshot is
never deleted by Changeover: it is the old database's way back, named in its note at the finish, and a
rollback says it is kept.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import make_url

from .. import redaction, resources
from .. import secrets as keyring_secrets
from ..errors import ChangeoverError
from ..inventory.models import Origin, Resource, ResourceState, Server
from ..jobs import Progress
from ..providers import rds
from . import journal
from .runs import RunEvent
from .states import Step, StepState

if TYPE_CHECKING:
    from .steps import StepContext

logger = logging.getLogger(__name__)


def _provider(server: Server | None, source: str) -> rds.RDSProvider:
    from ..servers import provider_for

    provider = provider_for(server) if server is not None else None
    if not isinstance(provider, rds.RDSProvider):
        raise ChangeoverError(
            f"'{source}' is not an RDS instance Changeover provisioned, so it has no RDS snapshot: roll this run "
            "back and take the copy route (--route copy).",
            title="Not an RDS instance",
        )
    return provider


def _longest_wait(ctx: StepContext) -> float:
    """How long RDS may take for this database's snapshot, or its restore: from the size pre-flight saw."""
    return rds.snapshot_wait_seconds(int(ctx.data(Step.PREFLIGHT).get("size_bytes") or 0))


def snapshot(ctx: StepContext, report: Progress) -> str:
    """Take a DB snapshot of the source instance (the source is quiet: maintenance is on) and wait for it."""
    data = ctx.data(Step.SNAPSHOT)
    with ctx.ws.session() as session:
        run = journal.get_run(session, ctx.run_id)
        source = run.source
        provider = _provider(source.server, source.name)
        server = source.server.name if source.server else ""
        database = make_url(source.handle).database or ""
        source_name, plan = source.name, run.target_plan
    instance = provider.instance_of(source_name, database)
    ident = str(instance["DBInstanceIdentifier"])
    if data.get("instance") not in (None, ident):
        raise ChangeoverError(
            f"This run took its snapshot of the RDS instance {data['instance']}, but '{source_name}' is now "
            f"{ident}: roll the run back and plan the upgrade again.",
            title="The source instance changed",
        )
    refusal = "" if data.get("snapshot") else rds.snapshot_refusal(instance, plan)
    if refusal:
        raise ChangeoverError(f"The snapshot route cannot be taken: {refusal}.", title="Snapshot route refused")
    name = str(data.get("snapshot") or rds.snapshot_id(source_name, ctx.run_id))
    ctx.save(Step.SNAPSHOT, instance=ident, snapshot=name, server=server)  # before the call: a resume adopts it
    report(0, None, "", f"Taking the RDS snapshot {name} of {ident}")
    started = time.monotonic()
    taken = provider.snapshot_instance(
        ident,
        name,
        resource=source_name,
        database=database,
        run_id=ctx.run_id,
        progress=report,
        cancel=ctx.cancel,
        wait_seconds=_longest_wait(ctx),
    )
    seconds = time.monotonic() - started
    kept = f"RDS snapshot {name} on {server}"
    journal.update_run(ctx.ws, ctx.run_id, stats={"snapshot": name, "snapshot_seconds": seconds, "kept": kept})
    size = f", {taken['AllocatedStorage']} GB" if taken.get("AllocatedStorage") else ""
    return f"{name} of {ident} is available{size}"


def restore(ctx: StepContext, report: Progress) -> str:
    """Restore the run's snapshot as the new instance of the plan's class and register it as the target."""
    snap = str(ctx.data(Step.SNAPSHOT).get("snapshot") or "")
    with ctx.ws.session() as session:
        row = journal.get_run(session, ctx.run_id)
        if row.target is not None:
            return f"using {row.target.name}"
        source = row.source
        provider = _provider(source.server, source.name)
        server_id = source.server.id if source.server else None
        target, plan = row.target_name, row.target_plan or ""
        existing = session.scalar(select(Resource).where(Resource.name == target))
        if (
            existing is not None
            and existing.origin == Origin.PROVISIONED
            and existing.state != ResourceState.DEPROVISIONED
        ):
            row.target = existing  # registered before a crash, not yet journaled
            session.commit()
            return f"adopted {existing.name}, restored before an interruption"
        password = ctx.ws.resolve_handle(source).secrets.get("password", "")
        database = make_url(source.handle).database or ""
    if not snap:
        raise ChangeoverError("This run has no snapshot to restore: roll it back and start again.")
    from ..servers import database_name

    keyring_secrets.check()  # the new resource's secret goes there: fail before the long restore, not after
    redaction.remember(password)
    ident = str(ctx.data(Step.RESTORE).get("instance") or rds.instance_id(database_name(target)))
    ctx.save(Step.RESTORE, instance=ident, snapshot=snap)  # before the call: a resume adopts the instance
    report(0, None, "", f"Restoring {snap} as {ident} ({rds.plan_text(plan)})")
    started = time.monotonic()
    handle = provider.restore_instance(
        snap,
        ident,
        plan=plan,
        resource=target,
        database=database,
        password=password,
        progress=report,
        cancel=ctx.cancel,
        wait_seconds=_longest_wait(ctx),
    )
    seconds = time.monotonic() - started
    with ctx.ws.session() as session:
        row = journal.get_run(session, ctx.run_id)
        server = session.get(Server, server_id)
        created = resources.add_row(ctx.ws, session, target, handle, origin=Origin.PROVISIONED, server=server)
        created.size_bytes = 0
        row.target = created
        session.commit()
    journal.update_run(ctx.ws, ctx.run_id, stats={"restore_seconds": seconds})
    ctx.ws.audit("provision", "resource", target, "ok", f"restored from the RDS snapshot {snap} as {ident} ({plan})")
    return f"{target}: {handle.masked()}"


def undo_snapshot(ctx: StepContext, report: Progress) -> None:
    """A rollback keeps the snapshot (Changeover never deletes one) and says so, with how to delete it."""
    data = ctx.data(Step.SNAPSHOT)
    name = data.get("snapshot")
    if not name:
        return
    words = (
        f"The RDS snapshot {name} of '{ctx.run().source}' is kept on {data.get('server') or 'its server'}: delete "
        f"it in the AWS console (or `aws rds delete-db-snapshot --db-snapshot-identifier {name}`) when you no "
        "longer need it."
    )
    ctx.save(Step.SNAPSHOT, undo=words)
    report(0, None, "", words)
    ctx.emit(RunEvent(ctx.run_id, Step.SNAPSHOT, StepState.ROLLED_BACK, words))


def undo_restore(ctx: StepContext, report: Progress) -> None:
    """A registered new instance is marked failed by the rollback, for the admin to deprovision (as on the
    copy route); one the restore made but never registered (a kill in the middle) is deleted."""
    data = ctx.data(Step.RESTORE)
    ident = data.get("instance")
    if not ident:
        return
    with ctx.ws.session() as session:
        row = journal.get_run(session, ctx.run_id)
        target = row.target.name if row.target is not None else None
        if target is None:
            provider = _provider(row.source.server, row.source.name)
        name = row.target_name
    if target is not None:
        words = (
            f"The new RDS instance {ident} ({target}) is marked failed: deprovision it with `changeover "
            f"deprovision {target} --confirm {target}` (add --no-final-snapshot: it holds nothing new)."
        )
    else:
        words = provider.remove_unregistered(str(ident), name)
        words = words[0].upper() + words[1:] + "."
    ctx.save(Step.RESTORE, undo=words)
    report(0, None, "", words)
    ctx.emit(RunEvent(ctx.run_id, Step.RESTORE, StepState.ROLLED_BACK, words))
