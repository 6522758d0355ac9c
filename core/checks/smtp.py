"""SMTP relays through smtplib: the greeting, ``EHLO``, ``STARTTLS`` when the server offers it or the
handle demands it (``?starttls=required``, or port 587), ``AUTH`` when the handle gives credentials.
``smtps://`` is TLS from the first byte (port 465). Nothing is sent: the check ends with ``QUIT``."""

from __future__ import annotations

import smtplib
import socket
import ssl
from urllib.parse import parse_qs, urlsplit

from ..handles import Handle
from .base import CheckResult, address, failed, network_reason, ok, timed, wrong_protocol

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
SUBMISSION_PORT = 587


def check(handle: Handle, timeout: float) -> CheckResult:
    implicit_tls = handle.scheme == "smtps"
    where = address(handle, DEFAULT_PORTS["smtps" if implicit_tls else "smtp"])
    port = where.port or DEFAULT_PORTS["smtp"]
    at = f"{where.host}:{port}"
    query = {k.lower(): v[-1].lower() for k, v in parse_qs(urlsplit(handle.public).query).items()}
    demand_tls = query.get("starttls", query.get("tls", "")) in {"1", "true", "yes", "required", "require"}
    demand_tls = demand_tls or (port == SUBMISSION_PORT and query.get("starttls") not in {"0", "false", "no"})
    context = ssl.create_default_context()
    with timed() as timer:
        try:
            server: smtplib.SMTP = (
                smtplib.SMTP_SSL(where.host, port, timeout=timeout, context=context)
                if implicit_tls
                else smtplib.SMTP(where.host, port, timeout=timeout)
            )
        except smtplib.SMTPConnectError as exc:
            if exc.smtp_code == -1:  # smtplib's mark for a reply that is not SMTP at all
                return failed(timer, wrong_protocol("SMTP", at, "its greeting is not an SMTP reply"), handle)
            return failed(timer, f"The SMTP server at {at} turned the connection away: {_reply(exc)}", handle)
        except smtplib.SMTPServerDisconnected as exc:
            if "timed out" in str(exc):  # smtplib turns a timeout while waiting for the greeting into this
                return failed(timer, _silent(where.host, port, timeout) or _network(TimeoutError(), where.host, port))
            return failed(timer, wrong_protocol("SMTP", at, _first_line(exc)), handle)
        except (UnicodeDecodeError, ValueError) as exc:
            return failed(timer, wrong_protocol("SMTP", at, _first_line(exc)), handle)
        except TimeoutError as exc:
            return failed(timer, _silent(where.host, port, timeout) or _network(exc, where.host, port), handle)
        except OSError as exc:
            return failed(timer, _network(exc, where.host, port), handle)
        try:
            code, _ = server.ehlo()
            if code != 250:
                return failed(timer, f"The SMTP server at {at} refused EHLO (code {code}).", handle)
            tls = implicit_tls
            if not tls and server.has_extn("starttls"):
                server.starttls(context=context)
                server.ehlo()
                tls = True
            elif not tls and demand_tls:
                return failed(timer, f"The SMTP server at {at} does not offer STARTTLS, which the handle demands.")
            if where.username:
                if not server.has_extn("auth"):
                    return failed(timer, f"The SMTP server at {at} offers no AUTH, yet the handle gives a user name.")
                server.login(where.username, where.password)
            banner = (server.ehlo_resp or b"").decode("utf-8", "replace").splitlines()[:1]
        except smtplib.SMTPAuthenticationError as exc:
            return failed(timer, f"Wrong user name or password: the SMTP server at {at} says: {_reply(exc)}", handle)
        except smtplib.SMTPNotSupportedError as exc:
            return failed(timer, f"The SMTP server at {at} does not support that: {exc}", handle)
        except smtplib.SMTPResponseException as exc:
            return failed(timer, f"The SMTP server at {at} answered: {_reply(exc)}", handle)
        except smtplib.SMTPException as exc:
            return failed(timer, f"The SMTP server at {at} stopped the session: {_first_line(exc)}", handle)
        except OSError as exc:
            return failed(timer, _network(exc, where.host, port), handle)
        finally:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                server.close()
        how = "TLS" if tls else "no TLS"
        who = f", logged in as {where.username}" if where.username else ""
        return ok(timer, f"SMTP at {at} ({banner[0] if banner else 'no banner'}) answered EHLO, {how}{who}.")


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {text}".strip()


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def _network(exc: BaseException, host: str, port: int) -> str:
    return network_reason(exc, host, port) or f"Could not talk to the SMTP server at {host}:{port}: {_first_line(exc)}"


def _silent(host: str, port: int, timeout: float) -> str:
    """After no greeting came: ask once with a command, to tell a server of another protocol (Redis,
    Memcached wait for the client to speak first) from one that says nothing at all."""
    try:
        with socket.create_connection((host, port), timeout=min(timeout, 2.0)) as sock:
            sock.sendall(b"QUIT\r\n")
            answer = sock.recv(200)
    except OSError:
        return ""
    if not answer:
        return wrong_protocol("SMTP", f"{host}:{port}", "it sent no greeting and closed the connection")
    line = answer.decode("utf-8", "replace").splitlines()[0][:80] if answer.strip() else ""
    return wrong_protocol("SMTP", f"{host}:{port}", f"no greeting; it answered QUIT with {line!r}")
