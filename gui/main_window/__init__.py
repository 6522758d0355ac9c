"""The main window (:mod:`.window`) and its panes: deploys, the selected deploy, resources, activity, status bar."""

from .window import MainWindow

__all__ = ["MainWindow"]
