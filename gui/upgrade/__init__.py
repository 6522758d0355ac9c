"""The upgrade wizard, one module per page, the wizard that holds them, and its installer on the window."""

from .common import PAGE_DATABASE, PAGE_DONE, PAGE_PLAN, PAGE_PROGRESS, PAGE_TARGET, STATES, EventRelay
from .installer import UpgradeLauncher, install
from .wizard import UpgradeWizard

__all__ = [
    "PAGE_DATABASE",
    "PAGE_DONE",
    "PAGE_PLAN",
    "PAGE_PROGRESS",
    "PAGE_TARGET",
    "STATES",
    "EventRelay",
    "UpgradeLauncher",
    "UpgradeWizard",
    "install",
]
