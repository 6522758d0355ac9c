"""Which function runs each step of each route, and what a rollback undoes: one table over every route.

The copy route's steps live in :mod:`.steps` (the others share most of them), RDS's snapshot route's own in
:mod:`.snapshot_steps`, the online route's in :mod:`.online_steps`. Each of those knows only the step
context; this module, above them all, puts them together for the runner.
"""

from __future__ import annotations

from collections.abc import Callable

from ..jobs import Progress
from . import online_steps, snapshot_steps, steps
from .states import RouteName
from .steps import StepContext

StepFunction = Callable[[StepContext, Progress], str]
Undo = Callable[[StepContext, Progress], None]

#: every step's function, whatever the route (a route may override a shared one below)
STEP_FUNCTIONS: dict[str, StepFunction] = {
    **steps.STEP_FUNCTIONS,
    "snapshot": snapshot_steps.snapshot,
    "restore": snapshot_steps.restore,
    **online_steps.STEP_FUNCTIONS,
}

#: a route's own function for a step other routes do too (the online route's verify, say); a step not
#: listed here for a run's route is :data:`STEP_FUNCTIONS`'
ROUTE_STEP_FUNCTIONS: dict[str, dict[str, StepFunction]] = {
    RouteName.ONLINE: online_steps.ROUTE_STEP_FUNCTIONS,
}

#: what a rollback does for a step that ran (or was running), latest step first
UNDO: dict[str, Undo] = {
    **steps.UNDO,
    "snapshot": snapshot_steps.undo_snapshot,
    "restore": snapshot_steps.undo_restore,
    **online_steps.UNDO,
}


def step_function(route: str, name: str) -> StepFunction:
    """What runs step ``name`` of a run that takes ``route``."""
    return ROUTE_STEP_FUNCTIONS.get(route, {}).get(name) or STEP_FUNCTIONS[name]
