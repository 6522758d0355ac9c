"""SVG icons from resources/icons, recoloured to the palette's text colour (dark mode friendly).

Like Vorta's ``get_colored_icon``: each SVG is drawn in black (``#000000``); the colour is swapped for
the current palette's window text colour before the SVG is rendered, so icons stay readable on a dark
palette.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray
from PySide6.QtGui import QGuiApplication, QIcon, QPalette, QPixmap

logger = logging.getLogger(__name__)

ICON_DIR = Path(__file__).resolve().parent.parent / "resources" / "icons"


def is_dark(palette: QPalette | None = None) -> bool:
    """True when the palette draws light text on a dark window (the system's dark mode)."""
    palette = palette or QGuiApplication.palette()
    return (
        palette.color(QPalette.ColorRole.Window).lightness() < palette.color(QPalette.ColorRole.WindowText).lightness()
    )


def icon_path(name: str) -> Path:
    return ICON_DIR / f"{name}.svg"


def get_colored_icon(name: str, palette: QPalette | None = None) -> QIcon:
    """The icon ``name`` drawn in the palette's text colour (black on light palettes, light on dark)."""
    palette = palette or QGuiApplication.palette()
    color = palette.color(QPalette.ColorRole.WindowText).name()
    return _icon(name, color)


@cache
def _icon(name: str, color: str) -> QIcon:
    path = icon_path(name)
    try:
        svg = path.read_text(encoding="utf-8")
    except OSError:
        logger.warning("icon %s is missing", path)
        return QIcon()
    pixmap = QPixmap()
    pixmap.loadFromData(QByteArray(svg.replace("#000000", color).encode()), "SVG")
    return QIcon(pixmap)
