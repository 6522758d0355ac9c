"""``changeover check``: ask each resource over its own protocol whether it is healthy, and keep the answer."""

from __future__ import annotations

import argparse
from typing import TextIO

from changeover.core import checks
from changeover.core.workspace import Workspace

from .options import Commands, command, number
from .output import listing, when

#: the range of ``--timeout`` (seconds)
TIMEOUT_SECONDS = (0.5, 300.0)


def cmd_check(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    names = None if args.all or not args.resources else args.resources
    results = checks.check_resources(ws, names, timeout=args.timeout)
    listing(
        results,
        args.json,
        ("RESOURCE", "KIND", "STATUS", "LATENCY", "CHECKED", "REASON"),
        lambda r: (
            r.resource,
            r.kind,
            r.status.value.replace("_", " "),
            f"{r.latency_ms:.0f} ms" if r.status is not checks.CheckStatus.NOT_CHECKABLE else "-",
            when(r.checked_at),
            r.reason,
        ),
        out,
    )
    failed = [r.resource for r in results if r.failed]
    if failed:
        raise checks.ChecksFailed(
            f"{len(failed)} of {len(results)} resources failed their check: {', '.join(failed)}. "
            "Each one's reason is above; fix it and run `changeover check` again."
        )


def register(commands: Commands) -> None:
    p = command(commands, "check", cmd_check, "check resources over their own protocol (exit 1 if any failed)")
    p.add_argument("resources", nargs="*", metavar="RESOURCE", help="resources to check (default: all)")
    p.add_argument("--all", action="store_true", help="check every resource that is not deprovisioned")
    p.add_argument(
        "--timeout",
        type=number(TIMEOUT_SECONDS, "--timeout", float),
        default=checks.TIMEOUT,
        help=f"seconds to wait for each server (default {checks.TIMEOUT:g})",
    )
    p.add_argument("--json", action="store_true")
