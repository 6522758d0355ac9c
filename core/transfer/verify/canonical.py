"""The canonical text of every value, by kind, the same on every engine (see the table in the package doc),
and the order-independent digest of a row."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ..reading import Kind

SEP = "\x1e"

_MASK60 = (1 << 60) - 1

_MICRO = Decimal("0.000001")


def decimal_text(d: Decimal) -> str:
    """A decimal without exponent or trailing zeros: ``1.50`` → ``1.5``, ``1E+2`` → ``100``."""
    if d.is_nan():
        return "NaN"
    if d.is_infinite():
        return "-Infinity" if d < 0 else "Infinity"
    text = format(d, "f")  # not normalize(): it rounds to the context's 28 digits
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if d.is_zero() else text


def _float_text(value: Any) -> str:
    f = float(value)
    if f.is_integer() and abs(f) < 1e15:
        return str(int(f))
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "Infinity" if f > 0 else "-Infinity"
    # 15 significant digits first: what PostgreSQL keeps when it turns a float into a numeric.
    return decimal_text(Decimal(f"{f:.15g}").quantize(_MICRO, rounding=ROUND_HALF_UP))


def _pg_json_text(obj: Any) -> str:
    """``obj`` (parsed with Decimal floats) as PostgreSQL prints the same ``jsonb``."""
    if isinstance(obj, dict):
        keys = sorted(obj, key=lambda k: (len(k.encode()), k.encode()))
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {_pg_json_text(obj[k])}" for k in keys) + "}"
    if isinstance(obj, list):
        return "[" + ", ".join(_pg_json_text(v) for v in obj) + "]"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if obj is None:
        return "null"
    if isinstance(obj, Decimal):
        return format(obj.copy_abs() if obj.is_zero() else obj, "f")
    if isinstance(obj, int | float):
        return _pg_json_text(Decimal(repr(obj)))
    return json.dumps(obj, ensure_ascii=False)


def _json_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).decode("utf-8")
    if isinstance(value, str):
        value = json.loads(value, parse_float=Decimal)
    return _pg_json_text(value)


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    text = (value.decode() if isinstance(value, bytes) else str(value)).strip()
    if text[:4] == "0000":  # MariaDB's zero date, handed over as text: the far past (see FAR_PAST)
        return datetime(1, 1, 1)
    if text[4:5] == "-" and (text[5:7] == "00" or text[8:10] == "00"):  # a partial date: its first day
        text = text[:5] + (text[5:7].replace("00", "01")) + "-" + (text[8:10].replace("00", "01")) + text[10:]
    return datetime.fromisoformat(text.replace("T", " ").replace("Z", "+00:00"))


def _datetime_text(value: Any) -> str:
    dt = _parse_datetime(value)
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return f"{dt.year:04d}-" + dt.strftime("%m-%d %H:%M:%S.%f")  # %Y: "1", not "0001", on glibc


def _date_text(value: Any) -> str:
    dt = _parse_datetime(value)
    return f"{dt.year:04d}-" + dt.strftime("%m-%d")


_DURATION = re.compile(r"^(-)?(\d+):(\d\d):(\d\d)(?:\.(\d+))?$")


def _time_text(value: Any) -> str:
    if isinstance(value, timedelta):
        micros = value // timedelta(microseconds=1)
        sign = "-" if micros < 0 else ""
        seconds, micro = divmod(abs(micros), 1_000_000)
        return f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{micro:06d}"
    if not isinstance(value, time):
        match = _DURATION.match(str(value).strip())
        if match is None:
            value = time.fromisoformat(str(value))
        else:  # a duration's text (SQLite holding a MySQL TIME or a PostgreSQL interval): hours past 24
            sign, hours, minutes, secs, fraction = match.groups()
            return f"{sign or ''}{int(hours):02d}:{minutes}:{secs}.{(fraction or '').ljust(6, '0')[:6]}"
    return str(value.strftime("%H:%M:%S.%f"))


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="surrogateescape")
    return str(value)


def _bytes_text(value: Any) -> str:
    if isinstance(value, str):
        return value.encode("utf-8").hex()
    return bytes(value).hex()


def _bool_text(value: Any) -> str:
    if isinstance(value, bytes):  # MySQL BIT(1)
        value = int.from_bytes(value, "big")
    if isinstance(value, str):
        return "1" if value.strip().lower() in ("1", "t", "true", "y", "yes") else "0"
    return "1" if value else "0"


def _decimal_value(value: Any) -> str:
    if isinstance(value, float):
        return decimal_text(Decimal(repr(value)))
    try:
        return decimal_text(Decimal(str(value)))
    except InvalidOperation:
        return str(value)


_RENDER: dict[Kind, Callable[[Any], str]] = {
    "bool": _bool_text,
    "int": lambda v: str(int(v)),
    "decimal": _decimal_value,
    "float": _float_text,
    "text": _text,
    "bytes": _bytes_text,
    "date": _date_text,
    "time": _time_text,
    "datetime": _datetime_text,
    "datetime_tz": _datetime_text,
    "json": _json_text,
}


def canonical_value(kind: Kind, value: Any) -> str:
    """The canonical text of one value (``-`` for NULL, else ``+`` and the text)."""
    if value is None:
        return "-"
    return "+" + _RENDER[kind](value)


def field_renderer(kind: Kind) -> Callable[[Any], str]:
    """:func:`canonical_value` for one kind, with shortcuts for the values that are already canonical
    (this runs for every value of every row hashed in Python)."""
    render = _RENDER[kind]

    def general(v: Any) -> str:
        return "-" if v is None else "+" + render(v)

    def text(v: Any) -> str:
        if type(v) is str:
            return "+" + v
        return general(v)

    def integer(v: Any) -> str:
        if type(v) is int:
            return "+" + str(v)
        return general(v)

    def stamp(v: Any) -> str:  # SQLite's own text form is already the canonical one
        if type(v) is str and v[10:11] == " " and v[19:20] == ".":
            if len(v) == 26:
                return "+" + v
            if len(v) == 32 and v.endswith("+00:00"):
                return "+" + v[:26]
        return general(v)

    def decimal(v: Any) -> str:  # SQLite hands decimals over as floats: their repr is already minimal
        if type(v) is float and v:
            r = repr(v)
            if "e" not in r and "n" not in r:
                return "+" + (r[:-2] if r.endswith(".0") else r)
        if type(v) is int:
            return "+" + str(v)
        return general(v)

    shortcuts = {"text": text, "int": integer, "datetime": stamp, "datetime_tz": stamp, "decimal": decimal}
    return shortcuts.get(kind, general)


def row_digest(text: str) -> tuple[int, int]:
    """The row's MD5 as two 60-bit integers: its hex digits 1-15 and 16-30 (what the SQL side sums)."""
    d = hashlib.md5(text.encode("utf-8", errors="surrogatepass"), usedforsecurity=False).digest()
    return int.from_bytes(d[:8], "big") >> 4, (int.from_bytes(d[7:16], "big") >> 8) & _MASK60


def table_checksum(first: int, second: int) -> str:
    return f"{first & _MASK60:015x}{second & _MASK60:015x}"
