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


#: the icon of each resource kind (kinds not named here get the API icon)
KIND_ICONS = {
    "postgresql": "kind-database",
    "mysql": "kind-database",
    "sqlite": "kind-database",
    "couchdb": "kind-database",
    "redis": "kind-cache",
    "memcached": "kind-cache",
    "amqp": "kind-queue",
    "beanstalk": "kind-queue",
    "smtp": "kind-mail",
    "s3": "kind-storage",
    "http": "kind-api",
    "apikey": "key",
}


def kind_icon(kind: str, palette: QPalette | None = None) -> QIcon:
    """The icon of a resource kind, in the palette's text colour."""
    return get_colored_icon(KIND_ICONS.get(kind, "kind-api"), palette)


#: a badge per resource state: its shape (so it reads without colour too), its colour, and what it says
BADGES: dict[str, tuple[str, str, str]] = {
    "attached": ("disc", "#2e7d32", "Attached: a deploy's config points at it"),
    "available": ("ring", "#1565c0", "Available: registered, attached to no deploy"),
    "detached": ("half", "#ef6c00", "Detached: kept until its date, then deprovision it"),
    "overdue": ("triangle", "", "Overdue: past its keep-until date — deprovision it or keep it longer"),
    "failed": ("cross", "", "Failed: what a rolled-back upgrade leaves; deprovision it"),
    "deprovisioned": ("dash", "#757575", "Deprovisioned: gone, listed for its history"),
}


def badge_state(state: str, overdue: bool = False) -> str:
    """The badge a resource wears: its state, or ``overdue`` for a detached one past its date."""
    return "overdue" if overdue and state == "detached" else state


def state_badge(badge: str, palette: QPalette | None = None) -> QIcon:
    """A small coloured shape for a resource state (reds from :func:`warning_color`, readable on the palette)."""
    color = BADGES.get(badge, ("ring", "#757575", ""))[1] or warning_color(palette).name()
    return _badge(badge, color)


@cache
def _badge(badge: str, color: str) -> QIcon:
    from PySide6.QtCore import QPointF, QRectF, Qt
    from PySide6.QtGui import QPainter, QPen, QPolygonF

    shape = BADGES.get(badge, ("ring", "", ""))[0]
    size = 16
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    qcolor = QColor(color)
    pen = QPen(qcolor, 2.2)
    box = QRectF(2.5, 2.5, 11, 11)
    if shape == "disc":
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(qcolor)
        painter.drawEllipse(box)
    elif shape == "ring":
        painter.setPen(pen)
        painter.drawEllipse(box)
    elif shape == "half":
        painter.setPen(pen)
        painter.drawEllipse(box)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(qcolor)
        painter.drawPie(box, 90 * 16, 180 * 16)
    elif shape == "triangle":
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(qcolor)
        painter.drawPolygon(QPolygonF([QPointF(8, 1.5), QPointF(15, 14.5), QPointF(1, 14.5)]))
    elif shape == "cross":
        painter.setPen(QPen(qcolor, 3))
        painter.drawLine(QPointF(3.5, 3.5), QPointF(12.5, 12.5))
        painter.drawLine(QPointF(12.5, 3.5), QPointF(3.5, 12.5))
    else:  # dash
        painter.setPen(QPen(qcolor, 3))
        painter.drawLine(QPointF(3, 8), QPointF(13, 8))
    painter.end()
    return QIcon(pixmap)
