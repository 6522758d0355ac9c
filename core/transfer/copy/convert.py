"""Values on their way to another engine: what to SELECT on the source, and how each value becomes what
the target's writer takes (times, dates, booleans, decimals, bytes; values without a twin mapped)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ...engines import Engine
from ..reading import ColumnInfo, base_type
from ..verify.canonical import decimal_text


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _parse_dt(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).strip().replace("T", " ").replace("Z", "+00:00"))


def _to_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, timedelta):
        return (datetime.min + value).time()
    return time.fromisoformat(str(value))


def _duration_text(value: timedelta) -> str:
    """``[-]HH:MM:SS.ffffff``, hours past 24: what MySQL's TIME takes and verification renders."""
    micros = value // timedelta(microseconds=1)
    seconds, micro = divmod(abs(micros), 1_000_000)
    sign = "-" if micros < 0 else ""
    return f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{micro:06d}"


def _to_time_or_duration(value: Any) -> Any:
    """A time of day, or the duration itself when it is not one (an interval column takes it)."""
    if isinstance(value, timedelta) and not timedelta(0) <= value < timedelta(days=1):
        return value
    return _to_time(value)


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))


def _to_bytes(value: Any) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bytes):  # MySQL BIT(1)
        return any(value)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "t", "true", "y", "yes")
    return bool(value)


def _to_text(value: Any) -> str:
    return bytes(value).decode("utf-8") if isinstance(value, bytes | bytearray | memoryview) else str(value)


Converter = Callable[[Any], Any]


def converter(col: ColumnInfo, source: Engine, target: Engine) -> Converter | None:
    """How one source value becomes what the target's writer takes; None when it passes as it is."""
    steps: list[Converter] = []
    kind = col.kind
    if target.loads_text:
        # COPY's text format: PostgreSQL parses each value by its column's type, so ISO text, 0/1 and
        # naive UTC timestamps (the session is in UTC) all go as they are.
        if kind == "time" and source.times_as_durations:
            return _to_time_or_duration  # PyMySQL gives a timedelta
        if kind == "bool" and source.bits_as_bytes:
            return _to_bool  # BIT(1) comes as bytes
        if kind == "bytes" and not source.driver_typed:
            return _to_bytes
        return None
    if kind == "bool" and not source.gives_bools:
        steps.append(_to_bool)
    elif kind == "int" and not target.driver_typed and getattr(col.type, "unsigned", False):
        steps.append(str)  # BIGINT UNSIGNED may not fit SQLite's integers: it goes as text (see typemap)
    elif kind == "datetime_tz":
        steps.append(lambda v: _as_utc(_parse_dt(v)))
        if target.naive_datetimes:
            steps.append(lambda v: v.replace(tzinfo=None))
        elif not target.driver_typed:
            steps.append(lambda v: v.strftime("%Y-%m-%d %H:%M:%S.%f+00:00"))
    elif kind == "datetime":
        if not source.driver_typed:
            steps.append(lambda v: (lambda d: _as_utc(d).replace(tzinfo=None) if d.tzinfo else d)(_parse_dt(v)))
        if not target.driver_typed:
            steps.append(lambda v: v.strftime("%Y-%m-%d %H:%M:%S.%f"))
    elif kind == "date":
        if not source.driver_typed:
            steps.append(lambda v: v if isinstance(v, date) else date.fromisoformat(str(v)[:10]))
        if not target.driver_typed:
            steps.append(lambda v: v.isoformat())
    elif kind == "time":
        if not source.gives_times:
            steps.append(_to_time_or_duration)
        if not target.driver_typed:
            steps.append(lambda v: _duration_text(v) if isinstance(v, timedelta) else v.strftime("%H:%M:%S.%f"))
    elif kind == "decimal":
        if not source.driver_typed:
            steps.append(_to_decimal)
        if not target.driver_typed:
            steps.append(lambda v: decimal_text(v) if isinstance(v, Decimal) else v)
    elif kind == "bytes":
        steps.append(_to_bytes)
    elif kind in ("json", "text"):
        steps.append(_to_text)
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]
    first, second = steps

    def both(v: Any) -> Any:
        return second(first(v))

    return both


def select_columns(engine: Engine, cols: list[ColumnInfo], target: Engine, odd: Collection[str] = ()) -> list[str]:
    """The select list reading ``cols`` for ``target``; ``odd`` names the columns whose values need mapping
    (see ``Engine.copy_select``)."""
    return [
        engine.copy_select(
            col,
            as_text=col.kind == "json" or (col.kind == "text" and not isinstance(base_type(col.type), sa.String)),
            odd=col.name in odd,
            target=target,
        )
        for col in cols
    ]


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def load_field(kind: str, value: Any) -> str:
    """One value as a field of a ``LOAD DATA`` file (tab-separated, backslash-escaped, ``\\N`` for NULL)."""
    if value is None:
        return "\\N"
    if kind == "bool":
        return "1" if value else "0"
    if kind == "bytes":
        return bytes(value).hex()
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, time):
        return value.strftime("%H:%M:%S.%f")
    if isinstance(value, timedelta):  # a PostgreSQL interval into a MySQL TIME: hours past 24, signed
        return _duration_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return str(value).translate(_ESCAPES)
