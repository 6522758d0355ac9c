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
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette, QPixmap

logger = logging.getLogger(__name__)

ICON_DIR = Path(__file__).resolve().parent.parent / "resources" / "icons"


def is_dark(palette: QPalette | None = None) -> bool:
    """True when the palette draws light text on a dark window (the system's dark mode)."""
    palette = palette or QGuiApplication.palette()
    return (
        palette.color(QPalette.ColorRole.Window).lightness() < palette.color(QPalette.ColorRole.WindowText).lightness()
    )


#: reds for warnings (overdue, failed), darkest first: the first that reads on the palette is used
WARNING_REDS = ("#c62828", "#d32f2f", "#e53935", "#ef5350", "#ff6b6b", "#ff8a80", "#ffab91")
#: WCAG AA for normal text
MIN_CONTRAST = 4.5


def _luminance(color: QColor) -> float:
    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.redF()) + 0.7152 * channel(color.greenF()) + 0.0722 * channel(color.blueF())


def contrast(foreground: QColor, background: QColor) -> float:
    """The WCAG contrast ratio of two colours (1 to 21)."""
    high, low = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def warning_color(palette: QPalette | None = None) -> QColor:
    """The warning red that reads on the palette's table and window backgrounds (at least 4.5:1 on each):
    the usual dark red on a light palette, a lighter red on a dark one."""
    palette = palette or QGuiApplication.palette()
    roles = (QPalette.ColorRole.Base, QPalette.ColorRole.AlternateBase, QPalette.ColorRole.Window)
    return QColor(_warning_red(tuple(palette.color(role).name() for role in roles)))


@cache
def _warning_red(backgrounds: tuple[str, ...]) -> str:
    def worst(red: str) -> float:
        return min(contrast(QColor(red), QColor(background)) for background in backgrounds)

    return next((red for red in WARNING_REDS if worst(red) >= MIN_CONTRAST), max(WARNING_REDS, key=worst))


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
