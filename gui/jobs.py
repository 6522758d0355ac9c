"""The one Qt adapter that runs every piece of work off the GUI thread.

A :class:`Job` is a :class:`~PySide6.QtCore.QRunnable` around a plain callable following the core job
convention ``fn(progress, cancel)``; its signals live on a separate :class:`JobSignals` QObject (a
QRunnable cannot carry signals), like superqt's ``WorkerBase``. :class:`JobRunner` starts jobs on a
:class:`~PySide6.QtCore.QThreadPool` and keeps them alive until they end.

Every use-case call the GUI makes goes through here; each call opens its own SQLAlchemy session in
the worker thread (see :class:`changeover.core.workspace.Workspace`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal, Slot

from changeover.core.errors import Cancelled, ChangeoverError

logger = logging.getLogger(__name__)

#: ``fn(progress, cancel)``: progress is ``(done, total, unit, message)``, cancel a threading.Event
JobFn = Callable[[Callable[[int, int | None, str, str], None], threading.Event], Any]


class JobSignals(QObject):
    """The signals of one job; emitted from the worker thread, delivered queued to the GUI thread."""

    started = Signal()
    progress = Signal(int, object, str, str)  # done, total (None = busy), unit, message
    finished = Signal(object)  # the callable's result
    failed = Signal(object)  # a ChangeoverError (or an unexpected exception, re-raised on the GUI side)
    cancelled = Signal()
    ended = Signal()  # always last, whatever the outcome

    def __init__(self) -> None:
        super().__init__()
        # Callbacks run on the GUI thread: these slots belong to a QObject that lives there, so the
        # signals emitted by the worker thread reach them queued (a bare lambda would run in the worker).
        self._on_finished: list[Callable[[Any], None]] = []
        self._on_failed: list[Callable[[BaseException], None]] = []
        self._on_progress: list[Callable[[int, int | None, str, str], None]] = []
        self._on_ended: list[Callable[[], None]] = []
        self._on_cancelled: list[Callable[[], None]] = []
        self.finished.connect(self._finished)
        self.cancelled.connect(self._cancelled)
        self.failed.connect(self._failed)
        self.progress.connect(self._progress)
        self.ended.connect(self._ended)

    @Slot(object)
    def _finished(self, result: Any) -> None:
        for callback in self._on_finished:
            callback(result)

    @Slot(object)
    def _failed(self, error: BaseException) -> None:
        for callback in self._on_failed:
            callback(error)

    @Slot(int, object, str, str)
    def _progress(self, done: int, total: int | None, unit: str, message: str) -> None:
        for callback in self._on_progress:
            callback(done, total, unit, message)

    @Slot()
    def _cancelled(self) -> None:
        for callback in self._on_cancelled:
            callback()

    @Slot()
    def _ended(self) -> None:
        for callback in self._on_ended:
            callback()


class Job(QRunnable):
    """A QRunnable around ``fn(progress, cancel)``."""

    def __init__(self, fn: JobFn, name: str = "job") -> None:
        super().__init__()
        self.setAutoDelete(False)  # the runner holds the reference and drops it when the job ends
        self.fn = fn
        self.name = name
        self.signals = JobSignals()
        self.cancel_event = threading.Event()
        self.lane: QThreadPool | None = None  # the pool it was started on

    def cancel(self) -> None:
        self.cancel_event.set()

    def _progress(self, done: int, total: int | None, unit: str, message: str) -> None:
        self.signals.progress.emit(done, total, unit, message)

    def run(self) -> None:
        signals = self.signals
        signals.started.emit()
        try:
            result = self.fn(self._progress, self.cancel_event)
        except Cancelled:
            signals.cancelled.emit()
        except ChangeoverError as exc:
            logger.info("%s failed: %s", self.name, exc.title)
            signals.failed.emit(exc)
        except Exception as exc:  # noqa: BLE001 - handed to the GUI thread, which reports it as a bug
            logger.exception("%s crashed", self.name)
            signals.failed.emit(exc)
        else:
            signals.finished.emit(result)
        finally:
            signals.ended.emit()


class JobRunner(QObject):
    """Starts jobs on a thread pool; ``busy_changed`` tells the window when work starts and stops."""

    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self._pools: list[QThreadPool] = [self.pool]  # every pool a job was started on (waited for at shutdown)
        self._running: set[Job] = set()
        #: jobs started while held, in order, with their lane and priority (None: not held)
        self._held: list[tuple[Job, QThreadPool, int]] | None = None
        self._delayed: set[Job] = set()  # jobs whose delay_ms has not passed yet

    @property
    def running(self) -> int:
        return len(self._running)

    def start(
        self,
        fn: JobFn,
        *,
        name: str = "job",
        on_finished: Callable[[Any], None] | None = None,
        on_failed: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[int, int | None, str, str], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        priority: int = 0,
        pool: QThreadPool | None = None,
        unheld: bool = False,
        delay_ms: int = 0,
    ) -> Job:
        """Queue ``fn``; a higher ``priority`` runs before queued jobs of a lower one (not before running ones).
        ``pool`` is another lane than the runner's (slow reads that must not hold up the quick ones). While the
        runner is held (:meth:`hold`) the job waits for :meth:`release`, unless it is ``unheld``. A job with a
        ``delay_ms`` is queued that much later (it counts as running from now; :meth:`drop_queued` takes it back)."""
        job = Job(fn, name)
        if on_finished is not None:
            job.signals._on_finished.append(self._while_alive(on_finished, name))
        if on_failed is not None:
            job.signals._on_failed.append(self._while_alive(on_failed, name))
        if on_progress is not None:
            job.signals._on_progress.append(self._while_alive(on_progress, name))
        if on_cancelled is not None:
            job.signals._on_cancelled.append(self._while_alive(on_cancelled, name))
        job.signals._on_ended.append(lambda: self._ended(job))
        self._running.add(job)
        if len(self._running) == 1:
            self.busy_changed.emit(True)
        lane = pool or self.pool
        if lane not in self._pools:
            self._pools.append(lane)
        job.lane = lane
        if delay_ms > 0:
            self._delayed.add(job)
            QTimer.singleShot(delay_ms, lambda: self._start_delayed(job, lane, priority, unheld))
        elif self._held is not None and not unheld:
            self._held.append((job, lane, priority))
        else:
            lane.start(job, priority)
        return job

    def _while_alive(self, callback: Callable[..., None], name: str) -> Callable[..., None]:
        """``callback``, unless this runner (and so the window it belongs to) is gone by the time the job reports:
        a job that ends after its window closed reports to nobody."""

        def call(*args: Any) -> None:
            if shiboken6.isValid(self):
                callback(*args)
            else:
                logger.info("%s ended after its window closed: not reported", name)

        return call

    def _start_delayed(self, job: Job, lane: QThreadPool, priority: int, unheld: bool) -> None:
        if job not in self._delayed:  # dropped meanwhile
            return
        self._delayed.discard(job)
        if not (shiboken6.isValid(self) and shiboken6.isValid(lane)):  # the window has closed meanwhile
            self._running.discard(job)  # it never runs, and nobody is left to tell
            return
        if self._held is not None and not unheld:
            self._held.append((job, lane, priority))
        else:
            lane.start(job, priority)

    def hold(self) -> bool:
        """Keep the jobs started from now on queued here until :meth:`release` (the inventory is being opened,
        the window redraws). False if it was held already: that holder releases it."""
        if self._held is not None:
            return False
        self._held = []
        return True

    def release(self, *, drop: bool = False) -> None:
        """Start the held jobs in the order they were asked for (``drop``: end them unrun, they never report)."""
        held, self._held = self._held or [], None
        for job, lane, priority in held:
            if drop:
                self._ended(job)
            else:
                lane.start(job, priority)

    def drop_queued(self, job: Job) -> bool:
        """Take ``job`` off the queue if it has not started (an answer nobody waits for any more): True if so.
        A dropped job never reports; a started one runs to its end as usual."""
        if job in self._delayed:
            self._delayed.discard(job)
            self._ended(job)
            return True
        if self._held is not None and any(held is job for held, _lane, _priority in self._held):
            self._held = [entry for entry in self._held if entry[0] is not job]
            self._ended(job)
            return True
        if job not in self._running or job.lane is None or not job.lane.tryTake(job):
            return False
        self._ended(job)
        return True

    def _ended(self, job: Job) -> None:
        self._running.discard(job)
        if not self._running and shiboken6.isValid(self):  # (a job may end after its window is gone)
            self.busy_changed.emit(False)

    def drop_delayed(self) -> None:
        """Never start the jobs whose delay has not passed (their window is closing)."""
        for job in list(self._delayed):
            self.drop_queued(job)

    def cancel_all(self) -> None:
        for job in list(self._running):
            job.cancel()

    def wait(self, msecs: int = 30000) -> bool:
        """Block until the pools are idle (for shutdown only, never while the window is in use)."""
        return all([bool(pool.waitForDone(msecs)) for pool in self._pools])
