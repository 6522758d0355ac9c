"""Redis: ``AUTH`` (when the handle has a password) and ``PING`` through redis-py; TLS for ``rediss://``."""

from __future__ import annotations

import redis as redis_py
import redis.exceptions as rx

from ..handles import Handle
from .base import CheckResult, address, cause_chain, failed, network_reason, ok, timed, wrong_protocol

DEFAULT_PORT = 6379


def check(handle: Handle, timeout: float) -> CheckResult:
    where = address(handle, DEFAULT_PORT)
    at = f"{where.host}:{where.port}"
    with timed() as timer:
        client = redis_py.Redis.from_url(
            handle.full(),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry_on_timeout=False,
            retry=None,
            health_check_interval=0,
        )
        try:
            answer = client.ping()
            version = client.info("server").get("redis_version", "")
        except rx.AuthenticationError as exc:
            if not where.password:
                return failed(timer, f"The Redis server at {at} wants a password and the handle gives none.", handle)
            return failed(timer, f"Wrong password: the Redis server at {at} says: {exc}", handle)
        except rx.ResponseError as exc:
            text = str(exc)
            if text.startswith("NOAUTH"):
                return failed(timer, f"The Redis server at {at} wants a password and the handle gives none.", handle)
            if "without any password configured" in text:
                return failed(timer, f"The handle gives a password but the Redis server at {at} has none: {text}.")
            return failed(timer, f"The Redis server at {at} answered: {text}", handle)
        except rx.RedisError as exc:
            return failed(timer, _reason(exc, where.host, where.port), handle)
        finally:
            client.close()
        if answer is not True:
            return failed(timer, wrong_protocol("Redis", at, "PING got no PONG"))
        return ok(timer, f"Redis {version} at {at} answered PING.".replace("Redis  ", "Redis "))


def _reason(exc: BaseException, host: str, port: int | None) -> str:
    at = f"{host}:{port}"
    for inner in cause_chain(exc):
        known = network_reason(inner, host, port)
        if known:
            return known
    text = str(exc)
    if isinstance(exc, rx.TimeoutError) or "timed out" in text.lower():
        return f"Timed out waiting for {at}: the server did not answer in time."
    if "refused" in text.lower() or "Error 111" in text:
        return f"Connection refused at {at}: nothing listens there. Is the server running on that port?"
    if "ssl" in text.lower() or "tls" in text.lower():
        return f"TLS error at {at}: {text}"
    if isinstance(exc, rx.InvalidResponse) or "Protocol Error" in text or "Connection closed by server" in text:
        return wrong_protocol("Redis", at, text)
    return f"Could not talk to the Redis server at {at}: {text}"
