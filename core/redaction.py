"""Keeping secrets out of text: hook output, driver messages, log records, audit rows.

Two nets, used together by :func:`redact`:

- every secret this process has handled (stored, loaded, generated, or just removed from a deploy's
  config) is remembered here (:func:`remember`) and replaced wherever it appears, as typed or
  percent-encoded in a URL;
- the password of any ``scheme://user:password@host`` URL is masked even when it is not known, so a
  driver that quotes a handle we never saw still gives nothing away.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "remember", "known", "redact", "forget_all"]

MASK = "•••"
#: secrets shorter than this are not replaced on their own (they would mask ordinary words)
MIN_LENGTH = 3

_lock = threading.Lock()
_known: set[str] = set()
_USERINFO_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)(?P<password>[^\s@/]+)(?=@)")


def remember(*secrets: str | None) -> None:
    """Add secrets to the set :func:`redact` always masks, for the rest of this process."""
    with _lock:
        _known.update(s for s in secrets if s and len(s) >= MIN_LENGTH)


def known() -> frozenset[str]:
    with _lock:
        return frozenset(_known)


def forget_all() -> None:
    """Empty the remembered set (tests only: a process normally keeps it until it ends)."""
    with _lock:
        _known.clear()


def _forms(secrets: Iterable[str]) -> set[str]:
    forms: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= MIN_LENGTH:
            forms.update({secret, quote(secret, safe=""), quote(secret), quote_plus(secret)})
    return forms


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every remembered secret, every secret in ``extra`` and every URL password masked."""
    if not text:
        return text
    for form in sorted(_forms([*known(), *extra]), key=len, reverse=True):
        text = text.replace(form, MASK)
    return _USERINFO_PASSWORD.sub(lambda m: m.group("head") + MASK if m.group("password") != MASK else m.group(0), text)
