"""Discovery: the resources a deploy's config already uses, recognised by scheme and by conventional names.

An import registers what is found here; ``--dry-run`` only shows it. Values the app keeps in its own form
(server lists, a bucket name, SMTP parts) are composed into a handle and registered, but not attached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from . import handles, kinds


@dataclass(frozen=True)
class Recognised:
    """One resource discovery found in a deploy's config, and why.

    ``resource`` is the name it would be registered under, or the registered resource it is the same as
    (``existing``). ``attach`` is False when the variables hold the resource in the app's own form (a
    server list, a bucket name, parts of an SMTP login): it is registered but not attached, since
    Changeover could not write it back in that form on a swap or a rotation.
    """

    variable: str
    kind: str
    resource: str
    handle: str  # masked
    why: str
    existing: bool = False
    attach: bool = True
    variables: tuple[str, ...] = ()  # every variable it was read from


@dataclass(frozen=True)
class Found:
    variable: str
    handle: handles.Handle
    why: str
    attach: bool = True
    variables: tuple[str, ...] = ()
    suffix: str = ""


def base_name(deploy: str, item: Found) -> str:
    return f"{deploy}-{item.variable.lower().replace('_', '-')}{item.suffix}"


def recognised(item: Found, resource: str, existing: bool) -> Recognised:
    return Recognised(
        item.variable,
        item.handle.kind,
        resource,
        item.handle.masked(),
        item.why,
        existing,
        item.attach,
        item.variables or (item.variable,),
    )


#: where an app reads the parts of a resource it does not take as one URL (discovery composes a handle)
_REGION_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION")


_AWS_KEY_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


_SMTP_PARTS = {
    "server": ("SERVER", "HOST"),
    "port": ("PORT",),
    "login": ("LOGIN", "USERNAME", "USER"),
    "password": ("PASSWORD", "PASS"),
}


def discover(values: dict[str, str]) -> tuple[list[Found], list[tuple[str, str]]]:
    """Every resource the variables hold (see :func:`import_deploy`), and the variables passed over, why."""
    found: list[Found] = []
    skipped: list[tuple[str, str]] = []
    used: set[str] = set()
    for group in (_smtp_groups(values), _buckets(values), _server_lists(values)):
        for item in group:
            found.append(item)
            used.update(item.variables)
    for var, value in values.items():
        if var in used:
            continue
        try:
            single = recognise(var, value)
        except handles.HandleError as exc:
            skipped.append((var, exc.message))
            continue
        if isinstance(single, str):
            skipped.append((var, single))
        elif single is not None:
            found.append(single)
    order = {var: i for i, var in enumerate(values)}
    found.sort(key=lambda f: (order.get(f.variable, 0), f.suffix))
    return found, skipped


def recognise(var: str, value: str) -> Found | str | None:
    """The resource one variable holds, a reason it holds none worth saying, or None (not a resource)."""
    value = value.strip()
    if not value:
        return None
    named = kinds.for_env_var(var)
    bare_key = kinds.get(handles.APIKEY).matches_env_var(var)
    if "://" not in value and not value.startswith("sqlite:"):
        if named is not None and (named.name == handles.APIKEY or bare_key):
            return Found(var, handles.parse(value, kind=handles.APIKEY), f"conventional name {var} (a bare key)")
        return None
    scheme = value.split(":", 1)[0]
    by_scheme = kinds.by_scheme(scheme)
    if by_scheme is None:
        if named is not None and named.name != handles.APIKEY:
            known = scheme.lower()
            return f"{var} is conventionally {named.title}, but Changeover does not know the scheme '{known}://'."
        return None
    handle = handles.parse(value)
    if handle.kind != "http":
        return Found(var, handle, f"scheme {scheme.lower()}://")
    if named is not None and named.name == "http":
        if "WEBHOOK" in var.upper() and not handle.secrets:
            return (
                f"{var} is a webhook URL whose secret is in its path, which Changeover cannot keep out of the "
                "inventory: register it by hand as an API key if Changeover should keep it."
            )
        return Found(var, handle, f"conventional name {var}")
    if var.upper().endswith("_URL") and handle.secrets:
        return Found(var, handle, "an http(s) URL that carries a key, under a *_URL name")
    return None


def _first(values: dict[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = values.get(name, "").strip()
        if value:
            return name, value
    return None


def _userinfo(login: str, password: str) -> str:
    user = quote(login, safe="")
    return f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")


def _smtp_groups(values: dict[str, str]) -> list[Found]:
    """``MAILGUN_SMTP_SERVER`` with its port, login and password (and Postmark's, SendGrid's): one SMTP relay."""
    prefixes = [n[:-1] for n in kinds.get("smtp").env_names if n.endswith("_SMTP_*")]
    found = []
    for prefix in prefixes:
        parts = {part: _first(values, tuple(prefix + s for s in suffixes)) for part, suffixes in _SMTP_PARTS.items()}
        server = parts["server"]
        if server is None:
            continue
        port, login, password = parts["port"], parts["login"], parts["password"]
        text = f"smtp://{_userinfo(login[1] if login else '', password[1] if password else '')}{server[1]}"
        if port is not None:
            text += f":{port[1]}"
        try:
            handle = handles.parse(text, kind="smtp")
        except handles.HandleError:
            continue
        variables = tuple(p[0] for p in (server, port, login, password) if p is not None)
        found.append(Found(server[0], handle, "conventional names " + ", ".join(variables), False, variables))
    return found


def _buckets(values: dict[str, str]) -> list[Found]:
    """``S3_BUCKET`` (or its siblings) with ``AWS_REGION`` and the AWS keys: one S3 bucket."""
    names = [n for n in kinds.get("s3").env_names if n != "S3_URL" and "*" not in n]
    found = []
    for name in names:
        bucket = values.get(name, "").strip()
        if not bucket or "://" in bucket:
            continue
        region = _first(values, _REGION_VARS)
        key_id, secret = (_first(values, (v,)) for v in _AWS_KEY_VARS)
        userinfo = _userinfo(key_id[1], secret[1] if secret else "") if key_id else ""
        text = f"s3://{userinfo}{bucket}" + (f"?region={quote(region[1], safe='')}" if region else "")
        try:
            handle = handles.parse(text, kind="s3")
        except handles.HandleError:
            continue
        variables = tuple(p[0] for p in ((name, bucket), region, key_id, secret) if p is not None)
        found.append(Found(name, handle, "conventional names " + ", ".join(variables), False, variables))
    return found


def _server_lists(values: dict[str, str]) -> list[Found]:
    """``MEMCACHED_SERVERS=host:port,host:port`` (with ``*_USERNAME``/``*_PASSWORD``): a server each."""
    names = [n for n in kinds.get("memcached").env_names if n.endswith("_SERVERS")]
    found = []
    for name in names:
        listed = values.get(name, "").strip()
        if not listed or "://" in listed:
            continue
        prefix = name[: -len("SERVERS")]
        login, password = _first(values, (prefix + "USERNAME",)), _first(values, (prefix + "PASSWORD",))
        servers = [s for s in re.split(r"[\s,;]+", listed) if s]
        variables = tuple(p[0] for p in ((name, listed), login, password) if p is not None)
        for i, server in enumerate(servers, 1):
            userinfo = _userinfo(login[1], password[1] if password else "") if login else ""
            try:
                handle = handles.parse(f"memcached://{userinfo}{server}", kind="memcached")
            except handles.HandleError:
                continue
            why = "conventional names " + ", ".join(variables)
            if len(servers) > 1:
                why += f" (server {i} of {len(servers)})"
            suffix = f"-{i}" if len(servers) > 1 else ""
            found.append(Found(name, handle, why, False, variables, suffix))
    return found
