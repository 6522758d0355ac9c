"""Beanstalkd: ``stats`` through greenstalk, on a socket opened with the check's timeout."""

from __future__ import annotations

import socket

import greenstalk

from ..handles import Handle
from .base import CheckResult, address, failed, network_reason, ok, timed, wrong_protocol

DEFAULT_PORT = 11300


def check(handle: Handle, timeout: float) -> CheckResult:
    where = address(handle, DEFAULT_PORT)
    port = where.port or DEFAULT_PORT
    at = f"{where.host}:{port}"
    with timed() as timer:
        try:
            sock = socket.create_connection((where.host, port), timeout=timeout)
        except OSError as exc:
            return failed(timer, network_reason(exc, where.host, port) or f"{at}: {exc}", handle)
        try:
            with greenstalk.Client(sock) as client:
                stats = client.stats()
        except greenstalk.Error as exc:
            return failed(timer, wrong_protocol("beanstalkd", at, type(exc).__name__), handle)
        except OSError as exc:
            return failed(timer, network_reason(exc, where.host, port) or f"{at}: {exc}", handle)
        except (ValueError, KeyError, IndexError, UnicodeDecodeError) as exc:
            return failed(timer, wrong_protocol("beanstalkd", at, type(exc).__name__), handle)
        finally:
            sock.close()
        version = stats.get("version", "")
        if not version:
            return failed(timer, wrong_protocol("beanstalkd", at, "stats gave no version"), handle)
        return ok(timer, f"Beanstalkd {version} at {at} answered stats ({stats.get('current-jobs-ready', 0)} ready).")
