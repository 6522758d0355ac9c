"""Save an upgrade run's change record (Markdown or JSON) from the window: a file dialog, an atomic write.

The Done page of the upgrade wizard and the resource view's Upgrades tab both offer it; the record's text
is the core's (:meth:`Workspace.change_record_text`), the same the CLI's ``upgrade --record`` writes.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from changeover.core.errors import ChangeoverError

if TYPE_CHECKING:
    from changeover.core.workspace import Workspace

logger = logging.getLogger(__name__)

#: the file dialog's filters, and the format each one writes
FILTERS = {"Markdown (*.md)": "md", "JSON (*.json)": "json"}


def write_change_record(ws: Workspace, run_id: int, fmt: str, path: str | Path) -> Path:
    """Write the record beside its target, then rename it into place: a reader never sees half a file."""
    target = Path(path).expanduser()
    if not target.suffix:
        target = target.with_suffix(f".{fmt}")
    text = ws.change_record_text(run_id, fmt)
    try:
        handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ChangeoverError(
            f"The change record could not be written to {target} ({exc.strerror or exc}): choose a folder you may "
            "write to.",
            title="Change record not saved",
        ) from None
    return target


class ChangeRecordDialog(QFileDialog):
    """Where to save run ``run_id``'s change record, and as what; ``chosen`` gives (run id, format, path)."""

    chosen = Signal(int, str, str)

    def __init__(self, run_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent, f"Save the change record of run #{run_id}")
        self.run_id = run_id
        self.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        self.setNameFilters(list(FILTERS))
        self.setDefaultSuffix("md")
        self.selectFile(f"change-record-run-{run_id}.md")
        self.filterSelected.connect(lambda f: self.setDefaultSuffix(FILTERS.get(f, "md")))
        self.fileSelected.connect(self._chosen)

    def _chosen(self, path: str) -> None:
        fmt = "json" if path.lower().endswith(".json") else FILTERS.get(self.selectedNameFilter(), "md")
        self.chosen.emit(self.run_id, fmt, path)
