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

from .plan import DATABASE_KINDS, Check, UpgradePlan, plan_upgrade, start_upgrade
from .routes import STEP_FUNCTIONS
from .runner import execute, rollback
from .runs import EventSink, RunEvent, RunInfo, StepInfo, list_runs, show_run
from .states import (
    ROUTES,
    STEPS,
    SWITCH,
    TITLES,
    WEIGHTS,
    RouteName,
    RunState,
    Step,
    StepState,
    UpgradeFailed,
    route_steps,
)

__all__ = [
    "DATABASE_KINDS",
    "ROUTES",
    "STEP_FUNCTIONS",
    "STEPS",
    "SWITCH",
    "TITLES",
    "WEIGHTS",
    "Check",
    "RouteName",
    "EventSink",
    "RunEvent",
    "RunInfo",
    "RunState",
    "Step",
    "StepInfo",
    "StepState",
    "UpgradeFailed",
    "UpgradePlan",
    "execute",
    "list_runs",
    "plan_upgrade",
    "route_steps",
    "rollback",
    "show_run",
    "start_upgrade",
]
