"""A backup's manifest: what the artifact is, where it came from, and what it must contain.

The manifest sits next to the artifact as ``manifest.json``. It holds the format, the tool and its
version, the source server's version, per-table row counts and content checksums, the artifact's
sha256, size and creation time, the source handle masked, and the outcome of the last proof (a
test-restore into a scratch database, or a verified restore): when, where and what it found. Never a secret.

Version 2 added the proof. A reader ignores keys it does not know, so a later version that only adds
keys stays readable; it refuses a manifest whose version is higher than the ones it knows.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ...errors import ChangeoverError

MANIFEST = "manifest.json"
#: 2: the last proof (``proof``) and ``checksum_form`` (the tables' checksums may be an engine's fast form)
VERSION = 2


class BackupInvalid(ChangeoverError):
    """A backup folder is incomplete, damaged or of an unknown format."""

    title = "Backup unusable"


@dataclass(frozen=True)
class TableEntry:
    name: str
    rows: int
    checksum: str | None = None


@dataclass(frozen=True)
class Proof:
    """The last time a backup was loaded somewhere and compared with its manifest."""

    at: str  # ISO 8601, UTC, with seconds
    where: str  # in words: "server pg-main (postgresql)", "a private temporary SQLite file", "resource app-db"
    ok: bool
    detail: str  # what matched ("12 tables, 4,000 rows: counts and checksums match") or what did not
    kind: str = "test-restore"  # test-restore | restore
    table: str | None = None  # the first table that did not match, when that is why it failed


@dataclass(frozen=True)
class Manifest:
    format: str  # pg_dump-custom | pg_dump-directory | mariadb-tsv | mariadb-dump-sql | sqlite-backup
    engine: str  # postgresql | mysql | sqlite
    tool: str
    tool_version: str
    server_version: str
    source: str  # masked handle
    artifact: str  # file name inside the backup folder
    sha256: str
    size_bytes: int
    created_at: str  # ISO 8601, UTC
    tables: tuple[TableEntry, ...] = field(default=())
    resource: str | None = None
    manifest_version: int = VERSION
    proof: Proof | None = None  # the last test-restore or verified restore; None: never proven

    @property
    def proven(self) -> bool:
        """Loaded somewhere and found equal to the manifest, the last time it was tried."""
        return self.proof is not None and self.proof.ok

    #: how the tables' checksums were computed: "canonical" (comparable across engines), or a fast form
    #: valid between servers of one engine and version (:mod:`changeover.core.transfer.verify.native`)
    checksum_form: str = "canonical"

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def table_rows(self) -> dict[str, int]:
        return {t.name: t.rows for t in self.tables}

    def to_json(self) -> str:
        data = asdict(self)
        data["tables"] = [asdict(t) for t in self.tables]
        data["proof"] = asdict(self.proof) if self.proof else None
        return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            data: dict[str, Any] = json.loads(text)
            version = int(data.get("manifest_version", 0))
            if version > VERSION:
                raise BackupInvalid("The backup was made by a newer Changeover: update Changeover to load it.")
            data["tables"] = tuple(TableEntry(**_known(TableEntry, t)) for t in data.get("tables", []))
            proof = data.get("proof")
            data["proof"] = Proof(**_known(Proof, proof)) if proof else None
            return cls(**_known(cls, data))
        except (ValueError, TypeError, KeyError) as exc:
            raise BackupInvalid(f"The backup's manifest is damaged ({type(exc).__name__}).") from None

    def write(self, folder: Path) -> Path:
        path = folder / MANIFEST
        tmp = path.with_suffix(".tmp")
        tmp.touch(0o600)
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)
        return path


def _known(kind: type, data: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``data`` that ``kind`` (a dataclass) has: a later version's additions are ignored."""
    names = {f.name for f in fields(kind)}
    return {k: v for k, v in data.items() if k in names}


def record_proof(folder: Path, proof: Proof) -> Manifest:
    """Write ``proof`` into the manifest of the backup in ``folder`` (atomically); the artifact is untouched."""
    manifest = replace(read(folder), proof=proof, manifest_version=VERSION)
    manifest.write(folder)
    return manifest


def read(folder: Path) -> Manifest:
    """The manifest of the backup in ``folder`` (a backup folder or its manifest file)."""
    path = folder if folder.name == MANIFEST else folder / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BackupInvalid(f"{path.parent} holds no {MANIFEST}: it is not a Changeover backup.") from None
    return Manifest.from_json(text)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def digest_artifact(path: Path) -> tuple[str, int]:
    """(sha256, size in bytes) of an artifact: a file, or a folder of files (a digest over each file's)."""
    if path.is_file():
        return sha256_file(path), path.stat().st_size
    files = sorted(p for p in path.rglob("*") if p.is_file())
    # one file per core at once: hashlib lets go of the GIL over each block
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="digest") as pool:
        digests = list(pool.map(sha256_file, files))
    lines = [f"{item.relative_to(path).as_posix()}\0{digest}\n" for item, digest in zip(files, digests, strict=True)]
    size = sum(item.stat().st_size for item in files)
    return hashlib.sha256("".join(lines).encode()).hexdigest(), size


def verify_artifact(folder: Path, manifest: Manifest) -> Path:
    """The artifact's path once its size and sha256 match the manifest; else :class:`BackupInvalid`."""
    artifact = folder / manifest.artifact
    if not artifact.exists():
        raise BackupInvalid(f"The backup's artifact {manifest.artifact} is missing from {folder}.")
    if artifact.is_file() and artifact.stat().st_size != manifest.size_bytes:
        raise BackupInvalid(f"The backup's artifact {manifest.artifact} is damaged: its size does not match.")
    if digest_artifact(artifact) != (manifest.sha256, manifest.size_bytes):
        raise BackupInvalid(f"The backup's artifact {manifest.artifact} is damaged: its checksum does not match.")
    return artifact


def stamp(moment: datetime) -> str:
    """A folder name from a UTC moment: sortable, no colons."""
    return moment.strftime("%Y%m%dT%H%M%S.%fZ")
