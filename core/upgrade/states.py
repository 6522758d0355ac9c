"""The upgrade's steps and states, in one table each: what every face and the runner agree on."""

from __future__ import annotations

import enum

from ..errors import ChangeoverError
from ..inventory.models import RUN_TERMINAL_STATES


class Step(enum.StrEnum):
    PREFLIGHT = "preflight"
    PROVISION = "provision"
    MAINTENANCE_ON = "maintenance_on"
    BACKUP = "backup"
    LOAD = "load"
    VERIFY = "verify"
    SWITCH = "switch"
    MAINTENANCE_OFF = "maintenance_off"
    CONSTRAINTS = "constraints"  # PostgreSQL's foreign keys, restored NOT VALID, validated with the app running
    FINISH = "finish"
    # RDS's own route: a snapshot of the source restored as the new, larger instance
    SNAPSHOT = "snapshot"
    RESTORE = "restore"
    # the online route: replicate while the app runs, switch after a short drain
    BASE_COPY = "base_copy"
    CATCH_UP = "catch_up"
    DRAIN = "drain"
    CLEANUP = "cleanup"


class RouteName(enum.StrEnum):
    """How a run carries the database over: each route is its own list of steps (:data:`ROUTES`)."""

    COPY = "copy"  # Changeover's backup, load and verify, during maintenance
    SNAPSHOT = "snapshot"  # RDS to RDS: the provider's snapshot restored as a larger instance
    ONLINE = "online"  # replication while the app runs; maintenance only for the drain and the switch


class RunState(enum.StrEnum):
    RUNNING = "running"
    FAILED = "failed"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    DONE = "done"


class StepState(enum.StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    RETRYING = "retrying"
    DONE = "done"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"  # stopped by the admin's cancel (then rolled back)
    SKIPPED = "skipped"


#: every step, with its title and the share of a run's time it takes (for an overall bar); the copy route's
#: steps come first, in its order
STEP_TABLE: tuple[tuple[Step, str, int], ...] = (
    (Step.PREFLIGHT, "Pre-flight checks", 1),
    (Step.PROVISION, "Provision the new database", 2),
    (Step.MAINTENANCE_ON, "Maintenance on, wait until quiet", 2),
    (Step.BACKUP, "Back up the current database", 35),
    (Step.LOAD, "Load into the new database", 40),
    (Step.VERIFY, "Verify the copy", 12),
    (Step.SWITCH, "Switch the deploys (point of no return)", 4),
    (Step.MAINTENANCE_OFF, "Maintenance off", 2),
    (Step.CONSTRAINTS, "Validate the foreign keys (the app is back)", 3),
    (Step.FINISH, "Finish", 2),
    (Step.SNAPSHOT, "Snapshot the current database", 35),
    (Step.RESTORE, "Restore the snapshot as the new database", 45),
    (Step.BASE_COPY, "Copy the base from a consistent snapshot", 40),
    (Step.CATCH_UP, "Replicate changes while the app runs", 20),
    (Step.DRAIN, "Wait until the new database has applied every change", 3),
    (Step.CLEANUP, "Stop replication, remove what it made on the source", 2),
)
TITLES: dict[str, str] = {step.value: title for step, title, _ in STEP_TABLE}
WEIGHTS: dict[str, int] = {step.value: weight for step, _, weight in STEP_TABLE}
#: each route's steps, in order; every route has a switch, the point of no return
ROUTES: dict[str, tuple[str, ...]] = {
    RouteName.COPY: tuple(
        s.value
        for s in (
            Step.PREFLIGHT,
            Step.PROVISION,
            Step.MAINTENANCE_ON,
            Step.BACKUP,
            Step.LOAD,
            Step.VERIFY,
            Step.SWITCH,
            Step.MAINTENANCE_OFF,
            Step.CONSTRAINTS,
            Step.FINISH,
        )
    ),
    RouteName.SNAPSHOT: tuple(
        s.value
        for s in (
            Step.PREFLIGHT,
            Step.MAINTENANCE_ON,
            Step.SNAPSHOT,
            Step.RESTORE,
            Step.VERIFY,
            Step.SWITCH,
            Step.MAINTENANCE_OFF,
            Step.FINISH,
        )
    ),
    RouteName.ONLINE: tuple(
        s.value
        for s in (
            Step.PREFLIGHT,
            Step.PROVISION,
            Step.BASE_COPY,
            Step.CATCH_UP,
            Step.MAINTENANCE_ON,
            Step.DRAIN,
            Step.VERIFY,
            Step.SWITCH,
            Step.MAINTENANCE_OFF,
            Step.CLEANUP,
            Step.FINISH,
        )
    ),
}
#: the copy route's steps: the default, and what runs journaled before routes existed hold
STEPS: tuple[str, ...] = ROUTES[RouteName.COPY]
SWITCH = STEPS.index(Step.SWITCH)
assert all(Step.SWITCH in steps for steps in ROUTES.values())


def route_steps(route: str) -> tuple[str, ...]:
    """The steps of ``route``, in order."""
    return ROUTES[route]


def switch_index(steps: tuple[str, ...] | list[str]) -> int:
    """Where the point of no return is in a run's own list of steps."""
    return list(steps).index(Step.SWITCH)


FORWARD_RETRIES = 3
#: states a run can end in; every other state is unfinished (the inventory's own list, which the deploy and
#: resource use cases consult to refuse what an unfinished run still needs)
TERMINAL: frozenset[str] = RUN_TERMINAL_STATES
assert frozenset({RunState.DONE, RunState.ROLLED_BACK}) == TERMINAL


def after_rollback(state: str) -> str:
    """What a step's state becomes when its run is rolled back: the one rule both faces and the runner use."""
    if state == StepState.DONE:
        return StepState.ROLLED_BACK
    if state in (StepState.RUNNING, StepState.RETRYING):
        return StepState.FAILED
    return state


class UpgradeFailed(ChangeoverError):
    title = "Upgrade failed"
