"""Memcached: ``version`` through pymemcache. When the server demands authentication (memcached's
text-protocol auth, ``-Y`` auth file) and the handle gives credentials, they are sent first (a ``set``
of ``user password``, which such a server takes as the login and stores nothing)."""

from __future__ import annotations

import pymemcache.exceptions as mx
from pymemcache.client.base import Client

from ..handles import Handle
from .base import Address, CheckResult, Timer, address, failed, network_reason, ok, timed, wrong_protocol

DEFAULT_PORT = 11211


class _NeedsAuth(Exception):
    pass


def check(handle: Handle, timeout: float) -> CheckResult:
    where = address(handle, DEFAULT_PORT)
    at = f"{where.host}:{where.port}"
    with timed() as timer:
        try:
            try:
                version = _version(where, timeout, login=False)
            except _NeedsAuth:
                if not (where.username or where.password):
                    return failed(timer, f"Memcached at {at} wants a user name and password: the handle gives none.")
                version = _version(where, timeout, login=True)
        except _NeedsAuth:
            return failed(timer, f"Wrong user name or password: memcached at {at} refused them.", handle)
        except mx.MemcacheError as exc:
            return _failed_reply(timer, handle, at, str(exc))
        except OSError as exc:
            return failed(timer, network_reason(exc, where.host, where.port) or f"{at}: {exc}", handle)
        except (ValueError, IndexError) as exc:  # pymemcache tripping over a reply of another protocol
            return failed(timer, wrong_protocol("memcached", at, type(exc).__name__), handle)
        if not version or not version[0].isdigit():
            return failed(timer, wrong_protocol("memcached", at, f"version answered {version[:60]!r}"), handle)
        return ok(timer, f"Memcached {version} at {at} answered version.")


def _version(where: Address, timeout: float, *, login: bool) -> str:
    client = Client((where.host, where.port or DEFAULT_PORT), connect_timeout=timeout, timeout=timeout)
    try:
        if login:
            try:
                client.set("changeover-auth", f"{where.username} {where.password}", noreply=False)
            except mx.MemcacheClientError as exc:
                if "authentication" in str(exc).lower():
                    raise _NeedsAuth from None
                raise
        answer: bytes = client.version()
        return answer.decode("ascii", "replace")
    except mx.MemcacheClientError as exc:
        if "unauthenticated" in str(exc).lower():
            raise _NeedsAuth from None
        raise
    finally:
        client.close()


def _failed_reply(timer: Timer, handle: Handle, at: str, text: str) -> CheckResult:
    return failed(timer, wrong_protocol("memcached", at, text), handle)
