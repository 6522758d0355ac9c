"""The main window (:mod:`.window`) and its panes: deploys, the selected deploy, resources, activity, status bar."""

from .status_bar import KEYRING_WARNING_COLOR
from .window import MainWindow

__all__ = ["KEYRING_WARNING_COLOR", "MainWindow"]
