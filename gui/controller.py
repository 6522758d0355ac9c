"""The thin controller between the window and the use cases of :class:`Workspace`.

Every call to the workspace runs as a job on the thread pool (:mod:`changeover.gui.jobs`); results come
back as signals on the GUI thread. Nothing here lays out widgets.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QObject, Qt, QThreadPool, QTimer, Signal

from changeover.core import checks, handles, health, jobs, resources, servers
from changeover.core import secrets as keyring_secrets
from changeover.core.checks import CheckStatus, ResourceCheck
from changeover.core.context import SETTINGS
from changeover.core.errors import NotFound

if TYPE_CHECKING:  # what the use cases answer; the workspace (and so Alembic, boto3) loads when it is opened
    from changeover.core.backups import BackupInfo
    from changeover.core.deploys import Discovery
    from changeover.core.providers.base import InstanceOptions
    from changeover.core.records import ConfigVar, DeployInfo, EventInfo, ImportResult, ResourceInfo
    from changeover.core.rotation import RotationResult
    from changeover.core.servers import ServerInfo
    from changeover.core.swaps import SwapResult
    from changeover.core.uses import Use
    from changeover.core.workspace import Workspace

from .change_records import write_change_record
from .jobs import Job, JobRunner
from .models import DeploysRead, DeployTreeModel, EventsModel, ResourcesModel

logger = logging.getLogger(__name__)

Progress = Callable[[int, int | None, str, str], None]

#: the detail dock's reads go before queued background work: they answer a click
DETAIL_PRIORITY = 1

#: how often the window re-checks the attached resources in the background (milliseconds)
HEALTH_INTERVAL_MS = 5 * 60 * 1000


@dataclass(frozen=True)
class Snapshot:
    """Everything the main window lists, read in one job."""

    deploys: list[DeployInfo]
    resources: list[ResourceInfo]
    events: list[EventInfo]
    keyring: str
    location: str
    servers: list[ServerInfo] = field(default_factory=list)
    # each checked resource's last kept health result, by name
    health: dict[str, ResourceCheck] = field(default_factory=dict)
    # the tables' cells, rendered off the GUI thread (the resources sorted there too, as resource_sort says,
    # with their keys: the GUI thread only compares them with what it shows)
    resource_texts: list[tuple[str, ...]] | None = None
    resource_sort: tuple[int, Any] | None = None
    resource_keys: list[Any] | None = None
    deploys_read: DeploysRead | None = None  # the deploys in the tree's order, compared with what it showed
    event_texts: list[tuple[str, ...]] | None = None
    # how often the attached resources are re-checked (the health_interval_minutes setting)
    health_minutes: int = HEALTH_INTERVAL_MS // 60_000


def replaced_handle(full: str, new_secret: str) -> str:
    """``full`` with its secret (the password, else the only secret slot) replaced by ``new_secret``."""
    handle = handles.parse(full)
    slots = list(handle.secrets) or (["value"] if handle.kind == handles.APIKEY else ["password"])
    slot = "password" if "password" in slots else slots[0]
    if handle.kind == handles.APIKEY:
        return new_secret
    full_text: str = handle.with_secrets({**handle.secrets, slot: new_secret}).full()
    return full_text


def secret_values(full: str) -> list[str]:
    """The secret values in a full handle (what a copy to the clipboard hands out)."""
    try:
        return list(handles.parse(full).secrets.values())
    except handles.HandleError:
        return [full]


def health_summary(results: list[ResourceCheck]) -> str:
    """One line for the status bar after a check: how many, and the first failure's reason."""
    if not results:
        return "Nothing to check: select a deploy with attached resources, or a resource."
    failed = [r for r in results if r.status is CheckStatus.FAILED]
    unchecked = sum(1 for r in results if r.status is CheckStatus.NOT_CHECKABLE)
    text = f"Checked {len(results)}: {len(results) - len(failed) - unchecked} ok"
    if unchecked:
        text += f", {unchecked} not checkable"
    if failed:
        first = failed[0]
        text += f", {len(failed)} failed ({first.resource}: {first.reason.splitlines()[0] if first.reason else ''})"
    return text + "."


class MainController(QObject):
    """Runs the use cases for the main window and tells it what changed."""

    snapshot_loaded = Signal(object)  # Snapshot
    config_loaded = Signal(str, object)  # deploy name, list[ConfigVar]
    health_checked = Signal(object)  # dict[resource name, ResourceCheck]: results just kept
    events_loaded = Signal(object, object)  # list[EventInfo] for the activity filter, their rendered cells
    changed = Signal(str)  # a short sentence for the status bar after a successful action
    failed = Signal(object)  # ChangeoverError or an unexpected exception
    busy_changed = Signal(bool)
    resource_detail_loaded = Signal(object)  # core.history.ResourceDetail
    deploy_detail_loaded = Signal(object)  # core.history.DeployDetail
    #: the "Upgrade database…" hook: the upgrade wizard (its own issue) connects here
    upgrade_requested = Signal(str)  # resource name
    opened = Signal()  # the inventory opened by open_workspace is open: the held jobs have started
    open_failed = Signal(object)  # the ChangeoverError (or unexpected exception) that kept it from opening

    def __init__(
        self, workspace: Workspace | None, parent: QObject | None = None, runner: JobRunner | None = None
    ) -> None:
        super().__init__(parent)
        self._workspace = workspace
        self._opening: Workspace | None = None  # what open_workspace opened, as soon as it has
        self.runner = runner or JobRunner(self)
        if workspace is None:
            self.runner.hold()  # work asked for before the inventory is open waits for it (see open_workspace)
        self.runner.busy_changed.connect(self.busy_changed)
        self.event_filter = ""
        #: how the window's resources table is sorted (column, Qt.SortOrder): a read sorts them so, off the GUI thread
        self.resource_sort: tuple[int, Any] = (0, Qt.SortOrder.AscendingOrder)
        #: the deploys the window's tree shows (a read compares with them off the GUI thread)
        self.deploys_shown: Sequence[DeployInfo] = []
        self.checking = 0  # health checks running now (a background tick is skipped while one runs)
        self._uses_job: Job | None = None  # the last "who uses it" read the selection asked for
        #: the lane of reads that take seconds on a large inventory (every deploy's config): one at a time
        self.slow_lane = QThreadPool(self)
        self.slow_lane.setMaxThreadCount(1)
        #: re-checks the attached resources every HEALTH_INTERVAL_MS; started by the window
        self.health_timer = QTimer(self)
        self.health_timer.setObjectName("health_timer")
        self.health_timer.setInterval(HEALTH_INTERVAL_MS)
        self.health_timer.timeout.connect(self.check_in_background)

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def workspace(self) -> Workspace:
        """The open inventory's use cases (a job started before it was open runs once it is)."""
        if self._workspace is None:
            raise RuntimeError("the inventory is not open yet: start a job, it waits for the inventory")
        return self._workspace

    @property
    def is_open(self) -> bool:
        return self._workspace is not None

    def close_workspace(self) -> None:
        """At shutdown (jobs ended): close the inventory, also one opened after the window stopped listening."""
        workspace = self._workspace or self._opening
        self._workspace = self._opening = None
        if workspace is not None:
            workspace.close()

    def open_workspace(self, open_it: Callable[[], Workspace]) -> Job:
        """Open the inventory off the GUI thread (importing the database layers, checking the schema and
        migrating it take most of a second): the window is painted first. The jobs asked for meanwhile start
        once it is open (``opened``); if it cannot be opened, ``open_failed`` gets the error and they never run."""

        def opened(workspace: Workspace) -> None:
            self._workspace = workspace
            self.runner.release()
            self.opened.emit()

        def failed(error: BaseException) -> None:
            self.runner.release(drop=True)
            self.open_failed.emit(error)

        def job(progress: Progress, cancel: threading.Event) -> Workspace:
            progress(0, None, "", "open the inventory")
            self._opening = open_it()  # (for close_workspace, should the window close before it hears)
            return self._opening

        return self.runner.start(job, name="open the inventory", on_finished=opened, on_failed=failed, unheld=True)

    def run(
        self,
        call: Callable[[], Any],
        *,
        name: str,
        on_finished: Callable[[Any], None] | None = None,
        on_failed: Callable[[BaseException], None] | None = None,
        priority: int = 0,
        slow: bool = False,
        delay_ms: int = 0,
    ) -> Job:
        """Run one workspace call off the GUI thread; failures go to ``failed`` unless handled. A ``slow`` one
        (seconds on a large inventory) runs in its own one-thread lane, so it never holds up the quick reads."""

        def job(progress: Progress, cancel: threading.Event) -> Any:
            progress(0, None, "", name)
            return call()

        return self.runner.start(
            job, name=name, on_finished=on_finished, on_failed=on_failed or self.failed.emit, priority=priority,
            pool=self.slow_lane if slow else None, delay_ms=delay_ms,
        )  # fmt: skip

    def _action(
        self,
        name: str,
        call: Callable[[], Any],
        done: str | Callable[[Any], str],
        then: Callable[[Any], None] | None = None,
    ) -> Job:
        """A change: on success report ``done`` (or ``done(result)``), reload everything, then call ``then``."""

        def finished(result: Any) -> None:
            self.changed.emit(done(result) if callable(done) else done)
            self.refresh()
            if then is not None:
                then(result)

        def failed(error: BaseException) -> None:
            self.failed.emit(error)
            self.refresh()  # the audit trail has a new row even when the action failed

        return self.run(call, name=name, on_finished=finished, on_failed=failed)

    def long_action(
        self,
        name: str,
        fn: Callable[[jobs.Progress, threading.Event], Any],
        done: str | Callable[[Any], str],
        *,
        on_progress: Progress | None = None,
        on_failed: Callable[[BaseException], None] | None = None,
    ) -> Job:
        """A change that takes a while, ``fn(progress, cancel)`` in the core's job convention: its messages go
        to ``on_progress`` (a WorkDialog), a cancel is said in the status bar; everything is re-read after."""

        def finished(result: Any) -> None:
            self.changed.emit(done(result) if callable(done) else done)
            self.refresh()

        def failed(error: BaseException) -> None:
            (on_failed or self.failed.emit)(error)
            self.refresh()

        def cancelled() -> None:
            self.changed.emit(f"Cancelled: {name}.")
            self.refresh()

        def job(progress: Progress, cancel: threading.Event) -> Any:
            return fn(cast(jobs.Progress, progress), cancel)  # the same four arguments, positionally

        return self.runner.start(
            job, name=name, on_finished=finished, on_failed=failed, on_progress=on_progress, on_cancelled=cancelled
        )

    # -- reading --------------------------------------------------------------------------------

    def refresh(self) -> Job:
        filter_text = self.event_filter
        sort, shown = self.resource_sort, self.deploys_shown

        def read() -> Snapshot:
            deploys, unsorted = self.workspace.overview()
            resources, resource_texts, resource_keys = ResourcesModel.prepare(unsorted, sort)
            deploys_read = DeployTreeModel.prepare(deploys, shown)
            events = self.workspace.events(filter_text or None)
            return Snapshot(
                deploys=deploys,
                resources=resources,
                events=events,
                keyring=keyring_secrets.describe(),
                location=self.workspace.inventory.location,
                servers=servers.list_servers(self.workspace),
                health=checks.last_results(self.workspace),
                resource_texts=resource_texts,
                resource_sort=sort,
                resource_keys=resource_keys,
                deploys_read=deploys_read,
                event_texts=EventsModel.render(events),
                health_minutes=int(self.workspace.setting("health_interval_minutes")),
            )

        return self.run(read, name="load the inventory", on_finished=self.snapshot_loaded.emit)

    def load_config(self, deploy: str) -> Job:
        def read() -> tuple[str, list[ConfigVar]]:
            return deploy, self.workspace.deploy_config(deploy)

        return self.run(read, name="read the deploy's config", on_finished=lambda r: self.config_loaded.emit(*r))

    def load_events(self, object_name: str) -> Job:
        self.event_filter = object_name

        def read() -> tuple[list[EventInfo], list[tuple[str, ...]]]:
            events = self.workspace.events(object_name or None)
            return events, EventsModel.render(events)

        return self.run(read, name="read the activity", on_finished=lambda r: self.events_loaded.emit(*r))

    def load_resource_detail(self, name: str) -> Job:
        """A resource's whole story (core.history) for the detail dock; a resource gone since is dropped quietly."""
        return self.run(
            lambda: self.workspace.resource_detail(name),
            name="read the resource's history",
            on_finished=self.resource_detail_loaded.emit,
            on_failed=lambda error: self._detail_failed(name, error),
            priority=DETAIL_PRIORITY,
        )

    def load_deploy_detail(self, name: str) -> Job:
        return self.run(
            lambda: self.workspace.deploy_detail(name),
            name="read the deploy's history",
            on_finished=self.deploy_detail_loaded.emit,
            on_failed=lambda error: self._detail_failed(name, error),
            priority=DETAIL_PRIORITY,
        )

    def _detail_failed(self, name: str, error: BaseException) -> None:
        if isinstance(error, NotFound):  # removed between the selection and the read
            logger.info("no detail for %s: %s", name, error)
            return
        self.failed.emit(error)

    def check_health(self, resource_names: list[str]) -> Job:
        """Check these resources now with their protocols (core.checks); the results are kept in the
        inventory, ``health_checked`` gets them and the status bar a one-line summary."""
        return self._check(lambda: list(resource_names), background=False)

    def check_in_background(self) -> Job | None:
        """The timer's re-check of every attached resource; skipped (None) while a check runs.

        Never shows a dialog: a failure to check at all is logged, and the results speak for themselves."""
        if self.checking:
            logger.info("background health check skipped: a check is running")
            return None
        return self._check(lambda: [r.name for r in self.workspace.list_resources("attached")], background=True)

    def _check(self, names: Callable[[], list[str]], *, background: bool) -> Job:

        def check() -> dict[str, ResourceCheck]:
            wanted = names()
            return {r.resource: r for r in checks.check_resources(self.workspace, wanted)} if wanted else {}

        def finished(results: dict[str, ResourceCheck]) -> None:
            self.checking -= 1
            self.health_checked.emit(results)
            if not background:
                self.changed.emit(health_summary(list(results.values())))

        def failed(error: BaseException) -> None:
            self.checking -= 1
            if background:
                logger.warning("background health check failed: %s", error)
            else:
                self.failed.emit(error)

        self.checking += 1
        return self.run(
            check, name="check health in the background" if background else "check health",
            on_finished=finished, on_failed=failed,
        )  # fmt: skip

    def test_connection(self, handle_text: str, on_result: Callable[[health.ConnectionResult], None]) -> Job:
        return self.run(lambda: health.check_connection(handle_text), name="test the connection", on_finished=on_result)

    def deprovision_refusal(self, resource: str, on_result: Callable[[str | None], None]) -> Job:
        """Ask the core why ``resource`` cannot be deprovisioned now (None: it can)."""
        return self.run(
            lambda: resources.deprovision_refusal(self.workspace, resource),
            name="check deprovisioning",
            on_finished=on_result,
        )

    def reveal(self, resource: str, on_result: Callable[[str], None]) -> Job:
        return self.run(
            lambda: self.workspace.reveal_secret(resource, shown_on="the window"),  # audited, never the value
            name="reveal a secret",
            on_finished=on_result,
        )

    def read_settings(self, on_result: Callable[[dict[str, str]], None]) -> Job:
        """Every inventory setting (core's SETTINGS), for the Preferences dialog."""
        return self.run(
            lambda: {key: self.workspace.setting(key) for key in SETTINGS}, name="read settings", on_finished=on_result
        )

    def save_settings(self, changes: dict[str, str]) -> Job:
        """Store the settings the user changed (each audited by core), then read everything again."""

        def save() -> None:
            for key, value in changes.items():
                self.workspace.set_setting(key, value)

        names = ", ".join(k.replace("_", " ") for k in changes) or "nothing"
        return self._action("save settings", save, f"Saved the preferences ({names}).")

    def set_health_interval(self, minutes: int) -> None:
        """Re-check every ``minutes`` from now on (the timer keeps running if it was)."""
        if self.health_timer.interval() != minutes * 60_000:
            self.health_timer.setInterval(minutes * 60_000)

    def retention_days(self, on_result: Callable[[str], None]) -> Job:
        return self.run(lambda: self.workspace.setting("retention_days"), name="read settings", on_finished=on_result)

    # -- deploys --------------------------------------------------------------------------------

    def add_deploy(self, values: dict[str, Any]) -> Job:
        name, env_file = values.pop("name"), values.pop("env_file")
        return self._action("add deploy", lambda: self.workspace.add_deploy(name, env_file, **values), f"Added {name}.")

    def import_deploy(self, values: dict[str, Any]) -> Job:
        name, env_file = values.pop("name"), values.pop("env_file")

        def summary(result: ImportResult) -> str:
            attached = ", ".join(f"{var} as {resource}" for var, resource in result.attached)
            found = f"registered and attached {attached}." if attached else "no resources found."
            return f"Imported {name}: {found}"

        return self._action("import deploy", lambda: self.workspace.import_deploy(name, env_file, **values), summary)

    def preview_import(
        self,
        values: dict[str, Any],
        on_result: Callable[[Discovery], None],
        on_failed: Callable[[BaseException], None] | None = None,
    ) -> Job:
        """What an import would register and attach, saving nothing: shown for the admin to confirm."""
        options = dict(values)
        name, env_file = options.pop("name"), options.pop("env_file")
        return self.run(
            lambda: self.workspace.import_deploy(name, env_file, dry_run=True, **options),
            name="read the .env",
            on_finished=on_result,
            on_failed=on_failed,
        )

    def edit_deploy(self, name: str, changes: dict[str, Any]) -> Job:
        return self._action("edit deploy", lambda: self.workspace.edit_deploy(name, **changes), f"Saved {name}.")

    def remove_deploy(self, name: str) -> Job:
        return self._action("remove deploy", lambda: self.workspace.remove_deploy(name), f"Removed {name}.")

    def restart(self, name: str) -> Job:
        return self._action("restart", lambda: self.workspace.restart(name), f"Restarted {name}.")

    def set_maintenance(self, name: str, on: bool) -> Job:
        state = "on" if on else "off"
        return self._action(
            "maintenance", lambda: self.workspace.set_maintenance(name, on), f"Maintenance {state} for {name}."
        )

    # -- resources ------------------------------------------------------------------------------

    def register_resource(self, name: str, handle_text: str, kind: str | None = None) -> Job:
        return self._action(
            "register", lambda: self.workspace.register_resource(name, handle_text, kind=kind), f"Registered {name}."
        )

    def attach(self, resource: str, deploy: str, env_var: str, replace: bool = False) -> Job:
        return self._action(
            "attach",
            lambda: self.workspace.attach(resource, deploy, env_var or None, replace=replace),
            f"Attached {resource} to {deploy}.",
        )

    def swap(self, old: str, new: str, keep_days: int | None = None) -> Job:
        """Replace ``old`` by ``new`` on every deploy (core.swaps): checked first, undone on the first failure."""

        def summary(result: SwapResult) -> str:
            deploys = ", ".join(sorted({d for d, _ in result.switched}))
            return f"Swapped {old} for {new} on {deploys}; {old} is kept, detached."

        return self._action("swap", lambda: self.workspace.swap(old, new, keep_days=keep_days), summary)

    def uses(
        self, what: str, on_result: Callable[[list[Use]], None], *, follows_selection: bool = False, delay_ms: int = 0
    ) -> Job:
        """Every deploy whose config points at ``what`` now (a resource, host or user), for the "Used by" view.

        It reads every deploy's config (seconds on a large inventory), in the slow lane, ``delay_ms`` from
        now. A read that ``follows_selection`` replaces the previous such read if that one has not started
        yet, so moving through the rows never queues one read per row."""
        previous = self._uses_job if follows_selection else None
        if previous is not None:
            self.runner.drop_queued(previous)
        job = self.run(
            lambda: self.workspace.uses(what), name="find who uses it", on_finished=on_result, slow=True,
            delay_ms=delay_ms,
        )  # fmt: skip
        if follows_selection:
            self._uses_job = job
        return job

    def detach(self, resource: str, deploy: str, keep_days: int | None = None) -> Job:
        return self._action(
            "detach",
            lambda: self.workspace.detach(resource, deploy, keep_days=keep_days),
            f"Detached {resource} from {deploy}.",
        )

    def set_keep_until(self, resource: str, keep_until: datetime) -> Job:
        return self._action(
            "keep until", lambda: self.workspace.set_keep_until(resource, keep_until), f"Kept {resource} longer."
        )

    def deprovision(
        self,
        resource: str,
        confirm: str,
        final_backup: bool = True,
        test_restore: bool = True,
        delete_contents: bool = False,
        *,
        on_progress: Progress | None = None,
    ) -> Job:
        """Deprovision; a provider-made database is dropped (after a final backup, test-restored, unless
        declined), a bucket holding objects only with ``delete_contents``. Progress and cancel as long work."""

        def call(progress: jobs.Progress, cancel: threading.Event) -> ResourceInfo:
            return self.workspace.deprovision(
                resource, confirm, final_backup=final_backup, test_restore=test_restore,
                delete_contents=delete_contents, progress=progress, cancel=cancel,
            )  # fmt: skip

        return self.long_action("deprovision", call, f"Deprovisioned {resource}.", on_progress=on_progress)

    # -- backups --------------------------------------------------------------------------------

    def test_restore(
        self,
        folder: str,
        *,
        on_progress: Progress | None = None,
        on_failed: Callable[[BaseException], None] | None = None,
    ) -> Job:
        """Prove a backup in a scratch database (core.backups); a failed proof is an error dialog naming the table."""

        def call(progress: jobs.Progress, cancel: threading.Event) -> BackupInfo:
            return self.workspace.test_restore_backup(folder, progress=progress, cancel=cancel)

        def done(info: BackupInfo) -> str:
            return f"Test-restored the backup of {info.resource}: proven ({info.proof_detail})."

        return self.long_action("test-restore", call, done, on_progress=on_progress, on_failed=on_failed)

    def restore(self, folder: str, resource: str, *, on_progress: Progress | None = None) -> Job:
        """Restore a backup into an empty resource; the core refuses a non-empty one in its own words."""

        def call(progress: jobs.Progress, cancel: threading.Event) -> Any:
            return self.workspace.restore_backup(folder, resource, progress=progress, cancel=cancel)

        def done(result: Any) -> str:
            return f"Restored {result.tables} tables, {result.rows:,} rows into {resource}: verified."

        return self.long_action("restore", call, done, on_progress=on_progress)

    def delete_backup(self, folder: str) -> Job:
        return self._action(
            "delete backup", lambda: self.workspace.delete_backup(folder), lambda info: f"Deleted {info.folder}."
        )

    def save_change_record(self, run_id: int, fmt: str, path: str) -> Job:
        """Write a run's change record (Markdown or JSON) to ``path``, atomically."""
        return self.run(
            lambda: write_change_record(self.workspace, run_id, fmt, path),
            name="save the change record",
            on_finished=lambda saved: self.changed.emit(f"Saved the change record of run #{run_id} to {saved}."),
        )

    def replace_secret(self, resource: str, new_secret: str) -> Job:

        def replace() -> ResourceInfo:
            return self.workspace.set_resource_secret(
                resource, replaced_handle(self.workspace.full_handle(resource), new_secret)
            )

        return self._action("replace secret", replace, f"Replaced the secret of {resource}.")

    def rotate(self, resource: str) -> Job:
        """A new credential beside the old one, given to every attached deploy, then the old one revoked."""

        def summary(result: RotationResult) -> str:
            deploys = ", ".join(result.deploys) or "no deploy"
            return f"Rotated the secret of {resource}; rewrote and restarted {deploys}. {result.note}".strip()

        return self._action("rotate password", lambda: self.workspace.rotate(resource), summary)

    def request_upgrade(self, resource: str) -> None:
        """Ask for the upgrade wizard on a database resource (the wizard connects ``upgrade_requested``)."""
        self.upgrade_requested.emit(resource)

    # -- servers --------------------------------------------------------------------------------

    def register_server(self, name: str, handle_text: str) -> Job:
        """Register a database server (reached first; its admin password goes to the keyring)."""
        return self._action(
            "register server",
            lambda: servers.register_server(self.workspace, name, handle_text),
            lambda info: f"Registered the server {name} ({info.kind} {info.version}).",
        )

    def remove_server(self, name: str) -> Job:
        """Forget a server; the core refuses while it carries live databases (the error dialog says so)."""
        return self._action(
            "remove server", lambda: servers.remove_server(self.workspace, name), f"Removed the server {name}."
        )

    def provision(
        self,
        server: str,
        name: str,
        plan: str | None = None,
        instance: InstanceOptions | None = None,
        *,
        on_progress: Progress | None = None,
    ) -> Job:
        """Create a database and its own user on ``server``, registered as the resource ``name``; on RDS a
        whole instance (``instance``: engine, version, storage, exposure), its status changes as progress."""

        def call(progress: jobs.Progress, cancel: threading.Event) -> ResourceInfo:
            return self.workspace.provision(
                server, name, plan=plan, instance=instance, progress=progress, cancel=cancel
            )

        return self.long_action("provision", call, f"Provisioned {name} on {server}.", on_progress=on_progress)

    # -- first run ------------------------------------------------------------------------------

    def open_demo(self) -> Job:
        from changeover.core import demo

        return self._action("open the demo", lambda: demo.create_demo(self.workspace), "Opened the demo workspace.")
