"""HTTP APIs and CouchDB through urllib: one ``GET``, with the key where the kind carries it.

CouchDB (``couchdb://``, ``couchdbs://`` for TLS) is asked ``GET /_up`` with the handle's user and
password (HTTP Basic) and must answer ``{"status": "ok"}``. An HTTP API is asked ``GET`` on the handle as
written (its base, or the health path it names; a ``#health=/path`` fragment names one apart from the
base); a token alone in the userinfo travels as ``Authorization: Bearer``, a user and password as Basic,
a key in the query stays in the query. On the base, HTTP 404 or 405 still counts as up (the server
answered); on a health path only 2xx does. Redirects are not followed (they could carry the key elsewhere).
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import urllib.error
import urllib.request
from urllib.parse import unquote, urlsplit, urlunsplit

from .. import kinds
from ..handles import Handle
from .base import CheckResult, cause_chain, failed, network_reason, ok, timed, wrong_protocol

_SCHEMES = {"couchdb": "http", "couchdbs": "https", "http": "http", "https": "https"}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def check(handle: Handle, timeout: float) -> CheckResult:
    kind = kinds.get(handle.kind)
    parts = urlsplit(handle.full())
    scheme = _SCHEMES.get(parts.scheme.lower(), "https")
    host = parts.hostname or ""
    port = parts.port or kind.port_for(parts.scheme)
    at = f"{host}:{port}"
    path = parts.path or "/"
    configured = bool(kind.health_path) or parts.fragment.startswith("health=")
    if kind.health_path:
        path = kind.health_path
    elif parts.fragment.startswith("health="):
        path = parts.fragment.removeprefix("health=") or "/"
    shown_host = f"[{host}]" if ":" in host else host
    url = urlunsplit((scheme, f"{shown_host}:{port}", path, parts.query, ""))
    request = urllib.request.Request(url, method="GET", headers={"Accept": "application/json, */*"})
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    if user and parts.password is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        request.add_header("Authorization", f"Basic {token}")
    elif user:
        request.add_header("Authorization", f"Bearer {user}")
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=ssl.create_default_context()))
    with timed() as timer:
        try:
            with opener.open(request, timeout=timeout) as response:
                status = response.status
                body = response.read(4096)
        except urllib.error.HTTPError as exc:
            if not configured and exc.code in (404, 405):  # an API's bare base often has no page of its own
                exc.close()
                return ok(
                    timer,
                    f"{kind.title} at {at} answered GET {path} with HTTP {exc.code}: it is up and speaks HTTP "
                    "(name a health path with #health=/path for a stricter check).",
                )
            return failed(timer, _http_error(exc, at, kind.title), handle)
        except urllib.error.URLError as exc:
            return failed(timer, _reason(exc, host, port, kind.title), handle)
        except (http.client.HTTPException, OSError, ValueError) as exc:
            return failed(timer, _reason(exc, host, port, kind.title), handle)
        if kind.health_path:
            state = _status_field(body)
            if state != "ok":
                return failed(timer, f"{kind.title} at {at} is up but not ok: {kind.health_path} says {state!r}.")
        return ok(timer, f"{kind.title} at {at} answered GET {path} with HTTP {status}.")


def _status_field(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return "no JSON"
    return str(data.get("status", "")) if isinstance(data, dict) else "no status"


def _http_error(exc: urllib.error.HTTPError, at: str, title: str) -> str:
    said = exc.read(300).decode("utf-8", "replace").strip().splitlines()[:1]
    tail = f": {said[0][:200]}" if said else ""
    if exc.code in (401, 407):
        return f"Wrong credentials: {title} at {at} answered HTTP {exc.code} {exc.reason}{tail}"
    if exc.code == 403:
        return f"Access denied: {title} at {at} answered HTTP 403 {exc.reason} (wrong key, or no permission){tail}"
    if 300 <= exc.code < 400:
        target = exc.headers.get("Location", "elsewhere")
        return f"{title} at {at} redirects (HTTP {exc.code}) to {target}: point the handle there."
    return f"{title} at {at} answered HTTP {exc.code} {exc.reason}{tail}"


def _reason(exc: BaseException, host: str, port: int | None, title: str) -> str:
    at = f"{host}:{port}"
    for inner in cause_chain(exc):
        candidate = (
            inner.reason
            if isinstance(inner, urllib.error.URLError) and isinstance(inner.reason, BaseException)
            else inner
        )
        known = network_reason(candidate, host, port)
        if known:
            return known
        if isinstance(candidate, (http.client.BadStatusLine, http.client.RemoteDisconnected, http.client.LineTooLong)):
            return wrong_protocol("HTTP", at, f"{type(candidate).__name__}: {str(candidate)[:80]}")
    return f"Could not reach {title} at {at}: {str(exc)[:200]}"
