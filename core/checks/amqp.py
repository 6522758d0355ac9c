"""AMQP (RabbitMQ): open a connection through pika with the handle's credentials and vhost, then close it."""

from __future__ import annotations

import logging

import pika
import pika.exceptions as px
from pika.adapters.utils.connection_workflow import AMQPConnectorException

from ..handles import Handle
from .base import CheckResult, address, cause_chain, failed, network_reason, ok, timed, wrong_protocol

logger = logging.getLogger(__name__)
logging.getLogger("pika").setLevel(logging.CRITICAL)  # pika logs every failed attempt with a traceback

DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671}


def check(handle: Handle, timeout: float) -> CheckResult:
    where = address(handle, DEFAULT_PORTS.get(handle.scheme, 5672))
    at = f"{where.host}:{where.port}"
    with timed() as timer:
        try:
            params = pika.URLParameters(handle.full())
            params.socket_timeout = timeout
            params.stack_timeout = timeout
            params.blocked_connection_timeout = timeout
            params.connection_attempts = 1
            params.retry_delay = 0
            vhost = params.virtual_host
        except (ValueError, TypeError) as exc:
            return failed(timer, f"The AMQP handle's options are not valid: {exc}", handle)
        try:
            connection = pika.BlockingConnection(params)
        except (px.ProbableAuthenticationError, px.AuthenticationError) as exc:
            return failed(timer, f"Wrong user name or password: the broker at {at} says: {_text(exc)}", handle)
        except px.ProbableAccessDeniedError as exc:
            return failed(
                timer,
                f"The broker at {at} refused vhost '{vhost}' to this user (no such vhost, or no permission "
                f"on it): {_text(exc)}",
                handle,
            )
        except px.IncompatibleProtocolError as exc:
            return failed(timer, wrong_protocol("AMQP", at, _text(exc)), handle)
        except (px.AMQPError, AMQPConnectorException, OSError) as exc:
            return failed(timer, _reason(exc, where.host, where.port), handle)
        try:
            props = connection._impl.server_properties  # noqa: SLF001 - the broker's own greeting
            product = f"{_prop(props, 'product')} {_prop(props, 'version')}".strip()
        finally:
            connection.close()
        return ok(timer, f"{product or 'AMQP broker'} at {at} opened vhost '{vhost}'.")


def _prop(props: object, key: str) -> str:
    value = props.get(key, "") if isinstance(props, dict) else ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _text(exc: BaseException) -> str:
    parts = [str(a) for a in getattr(exc, "args", ()) if str(a)]
    return "; ".join(parts) or type(exc).__name__


def _nested(exc: BaseException, depth: int = 0) -> list[BaseException]:
    """``exc``, its causes, and the exceptions pika wraps in its ``args`` (a connector error in a connection error)."""
    found: list[BaseException] = []
    for outer in cause_chain(exc):
        found.append(outer)
        if depth < 4:
            for arg in [*getattr(outer, "args", ()), getattr(outer, "exception", None)]:
                if isinstance(arg, BaseException):
                    found.extend(_nested(arg, depth + 1))
    return found


def _reason(exc: BaseException, host: str, port: int | None) -> str:
    at = f"{host}:{port}"
    for inner in _nested(exc):
        known = network_reason(inner, host, port)
        if known:
            return known
    text = _text(exc)
    lowered = text.lower()
    if "refused" in lowered:
        return f"Connection refused at {at}: nothing listens there. Is the server running on that port?"
    if "timeout" in lowered or "timed out" in lowered:
        return f"Timed out waiting for {at}: the server did not answer the AMQP handshake in time."
    if "ssl" in lowered or "tls" in lowered or "certificate" in lowered:
        return f"TLS error at {at}: {text}"
    if isinstance(exc, (px.StreamLostError, px.IncompatibleProtocolError)) or "eof" in lowered or "lost" in lowered:
        return wrong_protocol("AMQP", at, text)
    logger.debug("amqp check: %s", type(exc).__name__)
    return f"Could not open an AMQP connection to {at}: {text}"
