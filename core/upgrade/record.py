"""The change record of an upgrade run: what a change board asks of a change, from the journal.

Who (the OS user and host that drove it), when (UTC, with seconds), the source and target (handles
masked), the plan and its pre-flight results, each step with its start, end and outcome, the rows and
bytes copied, the verification table, the maintenance window, the backup kept with its checksum, and what
was not carried across engines. :func:`change_record` gives it as a plain dict (its JSON Schema is
``docs/change-record.schema.json``, explained in ``docs/change-record.md``); :func:`render` writes it as
JSON or Markdown. Never a secret: handles are masked, step messages and errors are redacted again.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import redaction
from ..audit import stamp
from ..context import Context
from ..errors import InvalidInput
from ..inventory.models import UpgradeRun
from ..records import stored_handle
from . import journal
from .states import TITLES

logger = logging.getLogger(__name__)

#: the version of the record's shape (``record_version``); a change that only adds keys keeps it
RECORD_VERSION = 1
#: the formats :func:`render` writes
FORMATS = ("md", "json")
NOT_RECORDED = "not recorded (the run started before Changeover kept it)"


def _at(moment: datetime | None) -> str | None:
    return stamp(moment) if moment is not None else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    elapsed = journal.elapsed(start, end)
    return round(elapsed, 3) if elapsed is not None else None


def _int(value: object) -> int | None:
    return int(str(value)) if isinstance(value, int | float | str) and str(value).strip() else None


def _rounded(value: object) -> float | None:
    return round(float(value), 3) if isinstance(value, int | float) else None


def _who(actor: str) -> dict[str, str]:
    user, _, host = actor.rpartition("@")
    return {"actor": actor, "user": user or actor, "host": host if user else ""}


def _backup(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    from ..transfer.formats.manifest import BackupInvalid, read

    entry: dict[str, Any] = {"folder": path, "kept": Path(path).is_dir()}
    try:
        manifest = read(Path(path))
    except BackupInvalid:
        return entry
    proof = manifest.proof
    entry.update(
        {
            "format": manifest.format,
            "tool": f"{manifest.tool} {manifest.tool_version}",
            "sha256": manifest.sha256,
            "size_bytes": manifest.size_bytes,
            "created_at": manifest.created_at,
            "tables": len(manifest.tables),
            "rows": manifest.total_rows,
            "proven": manifest.proven,
            "last_proof": (
                {"at": proof.at, "where": proof.where, "ok": proof.ok, "detail": proof.detail} if proof else None
            ),
        }
    )
    return entry


def _verification(run: UpgradeRun, backup: dict[str, Any] | None) -> dict[str, Any]:
    stats = dict(run.stats or {})
    step = next((s for s in run.steps if s.name == "verify"), None)
    data = dict(step.data or {}) if step is not None else {}
    tables = data.get("tables")
    return {
        "summary": stats.get("verified"),
        "sequences": data.get("sequences"),
        "tables": list(tables) if isinstance(tables, list) else [],
        "recorded": isinstance(tables, list) or backup is None,
    }


def change_record_text(ctx: Context, run_id: int, fmt: str = "md") -> str:
    """The change record of run ``run_id`` written as ``md`` or ``json`` (what a face saves to a file)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"Unknown record format '{fmt}': use one of {', '.join(FORMATS)}.")
    return render(change_record(ctx, run_id), fmt)


def change_record(ctx: Context, run_id: int) -> dict[str, Any]:
    """The change record of upgrade run ``run_id``, as plain JSON-ready data (see the module docstring)."""
    with ctx.session() as session:
        run = journal.get_run(session, run_id)
        options = dict(run.options or {})
        kept = options.get("plan")
        plan: dict[str, Any] = dict(kept) if isinstance(kept, dict) else {}
        stats = dict(run.stats or {})
        source = run.source
        target = run.target
        backup = _backup(run.backup_path)
        steps = [
            {
                "name": s.name,
                "title": TITLES.get(s.name, s.name),
                "state": s.state,
                "attempts": s.attempts,
                "started_at": _at(s.started_at),
                "finished_at": _at(s.finished_at),
                "seconds": _seconds(s.started_at, s.finished_at),
                "outcome": redaction.redact(s.message),
            }
            for s in run.steps
        ]
        record: dict[str, Any] = {
            "record_version": RECORD_VERSION,
            "run": run.id,
            "state": run.state,
            "generated_at": stamp(ctx.clock()),
            "who": _who(run.actor),
            "when": {
                "started_at": _at(run.created_at),
                "switched_at": _at(run.switched_at),
                "finished_at": _at(run.finished_at),
            },
            "source": {
                "resource": source.name,
                "kind": source.kind,
                "handle": stored_handle(source).masked(),
                "version": plan.get("source_version"),
                "size_bytes": _int(plan.get("source_size", stats.get("source_bytes"))),
                "tables": _int(plan.get("source_tables")),
                "rows_estimated": _int(plan.get("source_rows")),
            },
            "target": {
                "resource": run.target_name,
                "kind": target.kind if target is not None else plan.get("target_kind"),
                "handle": stored_handle(target).masked() if target is not None else plan.get("target_handle"),
                "server": run.target_server,
                "plan": run.target_plan,
            },
            "deploys": [{"deploy": d["deploy"], "env_var": d["env_var"]} for d in run.deploys or []],
            "plan": {
                "recorded": bool(plan),
                "cross_engine": bool(options.get("cross_engine", False)),
                "keep_days": run.keep_days,
                "estimate_seconds": _rounded(stats.get("estimate_seconds")),
                "steps": list(plan.get("steps") or [{"name": s["name"], "title": s["title"]} for s in steps]),
                "preflight": list(plan.get("checks") or []),
                "adaptations": list(plan.get("adaptations") or []),
                "warnings": list(plan.get("warnings") or []),
            },
            "steps": steps,
            "copied": {
                "rows": _int(stats.get("rows")),
                "source_bytes": _int(stats.get("source_bytes")),
                "backup_bytes": _int(stats.get("backup_bytes")),
                "backup_seconds": _rounded(stats.get("backup_seconds")),
                "load_seconds": _rounded(stats.get("load_seconds")),
            },
            "verification": _verification(run, backup),
            "maintenance_window": {
                "started_at": _at(run.maintenance_started_at),
                "ended_at": _at(run.maintenance_ended_at),
                "seconds": _seconds(run.maintenance_started_at, run.maintenance_ended_at),
            },
            "backup": backup,
            "not_carried": list(plan.get("not_carried") or []) if plan else None,
            "old_database": {
                "state": source.state,
                "keep_until": _at(source.keep_until),
                "note": redaction.redact(source.note or ""),
            },
            "error": redaction.redact(run.error or ""),
        }
    return record


# -- rendering ----------------------------------------------------------------------------------------


def render(record: dict[str, Any], fmt: str = "md") -> str:
    """The record as ``json`` (the schema's shape) or ``md`` (a document for a change board)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"Unknown record format '{fmt}': use one of {', '.join(FORMATS)}.")
    if fmt == "json":
        return json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    return _markdown(record)


def _cell(value: object) -> str:
    text = "-" if value is None or value == "" else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(headers: tuple[str, ...], rows: list[tuple[object, ...]]) -> list[str]:
    if not rows:
        return ["(none)"]
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    return lines + ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else _cell(value)


def _estimate(seconds: object) -> str:
    return f"{seconds:.0f} s" if isinstance(seconds, int | float) else "-"


def _markdown(r: dict[str, Any]) -> str:
    source, target, who, when = r["source"], r["target"], r["who"], r["when"]
    window, copied, plan, verification = r["maintenance_window"], r["copied"], r["plan"], r["verification"]
    out = [
        f"# Change record: upgrade run {r['run']}, {source['resource']} → {target['resource']}",
        "",
        f"- **Outcome:** {r['state']}" + (f" ({r['error']})" if r["error"] else ""),
        f"- **Who:** {who['user']} on {who['host'] or '-'}",
        f"- **Started:** {when['started_at']}; **switched:** {when['switched_at'] or '-'}; "
        f"**finished:** {when['finished_at'] or '-'} (UTC)",
        f"- **Source:** {source['resource']} ({source['kind']} {source['version'] or ''}".rstrip()
        + f"), `{source['handle']}`, {_number(source['size_bytes'])} bytes",
        f"- **Target:** {target['resource']} ({target['kind'] or '-'}), `{target['handle'] or '-'}`"
        + (f", provisioned on {target['server']}" if target["server"] else ""),
        "- **Deploys switched:** " + (", ".join(f"{d['deploy']} ({d['env_var']})" for d in r["deploys"]) or "none"),
        f"- **Maintenance window:** {window['started_at'] or '-'} to {window['ended_at'] or '-'}"
        + (f", {window['seconds']:.1f} s" if window["seconds"] is not None else ""),
        f"- **Copied:** {_number(copied['rows'])} rows; backup of {_number(copied['backup_bytes'])} bytes "
        f"from a source of {_number(copied['source_bytes'])} bytes",
        f"- **Record generated:** {r['generated_at']}",
        "",
        "## Plan and pre-flight",
        "",
    ]
    if not plan["recorded"]:
        out += [f"The plan was {NOT_RECORDED}.", ""]
    out += [
        f"Cross-engine: {'yes' if plan['cross_engine'] else 'no'}; estimated window: "
        f"{_estimate(plan['estimate_seconds'])}; the old database is kept {plan['keep_days']} days.",
        "",
    ]
    out += _table(
        ("Check", "Result", "Message"),
        [(c["name"], "ok" if c["ok"] else "FAIL", c["message"]) for c in plan["preflight"]],
    )
    for title, items in (("Adapted", plan["adaptations"]), ("Warnings", plan["warnings"])):
        if items:
            out += ["", f"{title}:", "", *(f"- {_cell(i)}" for i in items)]
    out += ["", "## Steps", ""]
    out += _table(
        ("#", "Step", "State", "Started", "Finished", "Seconds", "Outcome"),
        [
            (i, s["title"], s["state"], s["started_at"], s["finished_at"], s["seconds"], s["outcome"])
            for i, s in enumerate(r["steps"], 1)
        ],
    )
    out += ["", "## Verification", "", _cell(verification["summary"]), ""]
    if verification["tables"]:
        out += _table(
            ("Table", "Source rows", "Target rows", "Source checksum", "Target checksum", "Match"),
            [
                (
                    t["table"],
                    _number(t["source_rows"]),
                    _number(t["target_rows"]),
                    t["source_checksum"],
                    t["target_checksum"],
                    "yes" if t["ok"] else "NO: " + "; ".join(t["problems"]),
                )
                for t in verification["tables"]
            ],
        )
    elif not verification["recorded"]:
        out.append(f"The table-by-table comparison was {NOT_RECORDED}.")
    backup = r["backup"]
    out += ["", "## Backup kept", ""]
    if backup is None:
        out.append("No backup was taken.")
    else:
        out += [
            f"- Folder: `{backup['folder']}`" + ("" if backup["kept"] else " (no longer on disk)"),
            f"- Format: {_cell(backup.get('format'))} ({_cell(backup.get('tool'))}), "
            f"{_number(backup.get('size_bytes'))} bytes, {_number(backup.get('rows'))} rows",
            f"- sha256: `{_cell(backup.get('sha256'))}`",
            f"- Proven: {'yes' if backup.get('proven') else 'no'}"
            + (f" ({backup['last_proof']['where']}, {backup['last_proof']['at']})" if backup.get("last_proof") else ""),
        ]
    out += ["", "## Not carried across engines", ""]
    if r["not_carried"] is None:
        out.append(f"{NOT_RECORDED.capitalize()}.")
    else:
        same = "Nothing: the same engine on both sides."
        nothing = "Nothing: everything was carried." if plan["cross_engine"] else same
        out += [f"- {_cell(n)}" for n in r["not_carried"]] or [nothing]
    old = r["old_database"]
    out += [
        "",
        "## The old database",
        "",
        f"{source['resource']} is {old['state']}"
        + (f", kept until {old['keep_until']}" if old["keep_until"] else "")
        + (f". {old['note']}" if old["note"] else "."),
        "",
    ]
    return "\n".join(out)
