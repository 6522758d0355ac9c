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
    FINISH = "finish"


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


#: the steps in order, with their title and the share of a run's time each takes (for an overall bar)
STEP_TABLE: tuple[tuple[Step, str, int], ...] = (
    (Step.PREFLIGHT, "Pre-flight checks", 1),
    (Step.PROVISION, "Provision the new database", 2),
    (Step.MAINTENANCE_ON, "Maintenance on, wait until quiet", 2),
    (Step.BACKUP, "Back up the current database", 35),
    (Step.LOAD, "Load into the new database", 40),
    (Step.VERIFY, "Verify the copy", 12),
    (Step.SWITCH, "Switch the deploys (point of no return)", 4),
    (Step.MAINTENANCE_OFF, "Maintenance off", 2),
    (Step.FINISH, "Finish", 2),
)
STEPS: tuple[str, ...] = tuple(step.value for step, _, _ in STEP_TABLE)
TITLES: dict[str, str] = {step.value: title for step, title, _ in STEP_TABLE}
WEIGHTS: dict[str, int] = {step.value: weight for step, _, weight in STEP_TABLE}
SWITCH = STEPS.index(Step.SWITCH)
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
