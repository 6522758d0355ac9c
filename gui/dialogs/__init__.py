"""Dialogs, one module per concept: forms that collect input and hand it back; the controller does the work.

Every dialog is shown with ``open()`` (window-modal, never a nested event loop) and reports through
``accepted``; tests construct them and drive them directly.
"""

from ..widgets import ConfirmDialog
from .attach import AttachDialog, DetachDialog, SwapDialog
from .credentials import CLIPBOARD_MS, REVEAL_MS, CredentialsDialog, ReplaceSecretDialog, RotateDialog, can_rotate
from .deploys import DeployDialog
from .deprovision import DeprovisionDialog
from .errors import error_box
from .resources import KeepUntilDialog, RegisterDialog
from .servers import AddServerDialog, ProvisionDialog, ServersDialog

__all__ = [
    "CLIPBOARD_MS",
    "REVEAL_MS",
    "AddServerDialog",
    "AttachDialog",
    "ConfirmDialog",
    "CredentialsDialog",
    "DeployDialog",
    "DeprovisionDialog",
    "DetachDialog",
    "KeepUntilDialog",
    "ProvisionDialog",
    "RegisterDialog",
    "ReplaceSecretDialog",
    "RotateDialog",
    "ServersDialog",
    "SwapDialog",
    "can_rotate",
    "error_box",
]
