"""``changeover secret-store``: where the inventory's secrets are kept (the OS keyring or AWS Secrets Manager)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TextIO

from changeover.core.teamsecrets import SecretStoreInfo
from changeover.core.workspace import Workspace

from .options import Commands, command, group
from .output import emit_json


def _print(info: SecretStoreInfo, out: TextIO) -> None:
    out.write(f"secret store {info.setting}: {info.name}, {'usable' if info.usable else 'NOT usable'}\n")
    out.write(f"             {info.message}\n")
    out.write(f"secrets      {info.secrets} kept for this inventory's resources and servers\n")


def cmd_show(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = ws.secret_store_info()
    if args.json:
        emit_json(dataclasses.asdict(info), out)
        return
    _print(info, out)


def cmd_use(ws: Workspace, args: argparse.Namespace, out: TextIO) -> None:
    info = ws.use_secret_store(args.store, move=not args.no_move, keep_old=args.keep_old)
    if args.json:
        emit_json(dataclasses.asdict(info), out)
        return
    moved = f"; moved {info.moved} secret(s)" if not args.no_move else ""
    kept = f", {info.left_behind} cop(ies) left in the previous store" if info.left_behind else ""
    out.write(f"Secrets of this inventory are now kept in {info.setting}{moved}{kept}.\n")
    _print(info, out)


def register(commands: Commands) -> None:
    store = group(commands, "secret-store", "where this inventory's secrets are kept: keyring or AWS Secrets Manager")
    p = command(store, "show", cmd_show, "the secret store, whether it can be used, and how many secrets it keeps")
    p.add_argument("--json", action="store_true")
    p = command(store, "use", cmd_use, "keep this inventory's secrets in another store (moving them there)")
    p.add_argument("store", metavar="keyring|aws:REGION[/PREFIX]")
    p.add_argument("--no-move", action="store_true", help="do not move the secrets: the new store already has them")
    p.add_argument("--keep-old", action="store_true", help="leave a copy of each moved secret in the previous store")
    p.add_argument("--json", action="store_true")
