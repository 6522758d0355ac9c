"""Backups kept in an S3 bucket as well as on disk: copied after each backup, listed and fetched back from there.

The bucket is a registered (or provisioned) S3 resource, named once per inventory with
``changeover offsite use RESOURCE`` (the ``backup_bucket`` setting). After every ``changeover backup`` the
new backup folder is copied to ``s3://BUCKET/changeover-backups/<resource>/<timestamp>/``: the artifact (a
file, or each file of a folder artifact) first, the manifest last, so a manifest in the bucket always
stands beside its whole artifact, with the same checksums. A copy that fails leaves the backup on disk
as it was and is in the audit trail. ``offsite fetch`` downloads a backup into the backups folder (through
a ``.partial`` folder, like a backup being written) and checks the artifact's sha256 and size against the
manifest before ``changeover load`` may use it. Local pruning never removes what is in the bucket: give
the bucket a lifecycle rule for that.

The bucket is reached with the keys its handle carries, or else the standard AWS chain.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from . import paths
from .context import NAME, Context
from .errors import Conflict, InvalidInput, NotFound
from .inventory.models import ResourceState

logger = logging.getLogger(__name__)

SETTING = "backup_bucket"
PREFIX = "changeover-backups"
MANIFEST = "manifest.json"
NONE = "none"


@dataclass(frozen=True)
class OffsiteBackup:
    """A backup in the bucket: its resource folder and timestamp, where it is, and its manifest's facts."""

    resource: str
    timestamp: str
    location: str  # s3://bucket/changeover-backups/<resource>/<timestamp>/
    format: str
    size_bytes: int
    sha256: str
    created_at: str


@dataclass(frozen=True)
class _Bucket:
    client: Any
    name: str
    resource: str

    def url(self, key: str = "") -> str:
        return f"s3://{self.name}/{key}"


def _open_bucket(ctx: Context, resource_name: str) -> _Bucket:
    from . import aws

    with ctx.session() as session:
        resource = ctx.resource(session, resource_name)
        if resource.kind != "s3":
            raise InvalidInput(f"'{resource_name}' is a {resource.kind} resource, not an S3 bucket.")
        if resource.state == ResourceState.DEPROVISIONED:
            raise Conflict(f"'{resource_name}' is deprovisioned: name another bucket.")
        handle = ctx.resolve_handle(resource).full()
    parts = urlsplit(handle)
    query = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
    keys = (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
    region = query.get("region") or "us-east-1"
    return _Bucket(aws.client("s3", region, keys=keys), parts.hostname or "", resource_name)


def _configured(ctx: Context) -> _Bucket | None:
    name = ctx.setting(SETTING)
    return _open_bucket(ctx, name) if name and name != NONE else None


def use_bucket(ctx: Context, resource_name: str) -> str:
    """Copy every backup from now on to the S3 resource ``resource_name`` (``none``: stop); checked first."""
    from . import aws

    with ctx.audited("set backup bucket", "setting", SETTING) as details:
        if resource_name != NONE:
            bucket = _open_bucket(ctx, resource_name)
            with aws.translated(f"reach the bucket {bucket.name}", "s3:ListBucket"):
                bucket.client.head_bucket(Bucket=bucket.name)
        ctx.write_setting(SETTING, resource_name)
        details.append(f"backups copied to {resource_name}" if resource_name != NONE else "no backup bucket")
        return resource_name


def _files(folder: Path) -> list[Path]:
    """The backup's files, the manifest last."""
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    return [*found, folder / MANIFEST]


def push(ctx: Context, folder: Path, *, bucket: _Bucket | None = None) -> OffsiteBackup:
    """Copy the backup in ``folder`` to the backup bucket (artifact first, manifest last); audited."""
    from . import aws
    from .transfer.formats.manifest import read, verify_artifact

    folder = Path(folder).expanduser().resolve()
    with ctx.audited("copy backup to bucket", "backup", f"{folder.parent.name}/{folder.name}") as details:
        bucket = bucket or _configured(ctx)
        if bucket is None:
            raise Conflict("No backup bucket is set: name one with `changeover offsite use RESOURCE`.")
        manifest = read(folder)
        verify_artifact(folder, manifest)  # never copy a damaged backup
        base = f"{PREFIX}/{folder.parent.name}/{folder.name}/"
        for path in _files(folder):
            key = base + path.relative_to(folder).as_posix()
            with aws.translated(f"copy {path.name} to {bucket.url(key)}", "s3:PutObject"):
                bucket.client.upload_file(str(path), bucket.name, key)
        details.append(f"to {bucket.url(base)}")
        return OffsiteBackup(
            folder.parent.name,
            folder.name,
            bucket.url(base),
            manifest.format,
            manifest.size_bytes,
            manifest.sha256,
            manifest.created_at,
        )


def after_backup(ctx: Context, folder: Path) -> OffsiteBackup | None:
    """Copy a new backup to the backup bucket, if one is set (None when none is)."""
    bucket = _configured(ctx)
    return push(ctx, folder, bucket=bucket) if bucket is not None else None


def list_offsite(ctx: Context, resource: str | None = None) -> list[OffsiteBackup]:
    """The backups in the backup bucket (of one resource folder, or all), newest first."""
    from . import aws
    from .transfer.formats.manifest import BackupInvalid, Manifest

    bucket = _configured(ctx)
    if bucket is None:
        raise Conflict("No backup bucket is set: name one with `changeover offsite use RESOURCE`.")
    prefix = f"{PREFIX}/{_checked(resource, 'resource')}/" if resource else f"{PREFIX}/"
    found: list[OffsiteBackup] = []
    with aws.translated(f"list the backups in {bucket.url(prefix)}", "s3:ListBucket and s3:GetObject"):
        for page in bucket.client.get_paginator("list_objects_v2").paginate(Bucket=bucket.name, Prefix=prefix):
            for item in page.get("Contents", []):
                key = str(item["Key"])
                parts = key.split("/")
                if len(parts) != 4 or parts[3] != MANIFEST:
                    continue
                body = bucket.client.get_object(Bucket=bucket.name, Key=key)["Body"].read()
                try:
                    manifest = Manifest.from_json(body.decode("utf-8"))
                except (BackupInvalid, UnicodeDecodeError):
                    logger.warning("skipping a damaged manifest at %s", bucket.url(key))
                    continue
                found.append(
                    OffsiteBackup(
                        parts[1],
                        parts[2],
                        bucket.url("/".join(parts[:3]) + "/"),
                        manifest.format,
                        manifest.size_bytes,
                        manifest.sha256,
                        manifest.created_at,
                    )
                )
    return sorted(found, key=lambda b: b.created_at, reverse=True)


def _checked(text: str, what: str) -> str:
    if not NAME.fullmatch(text):
        raise InvalidInput(f"'{text}' is not a backup {what}: see `changeover offsite list`.")
    return text


def fetch(ctx: Context, resource: str, timestamp: str) -> Path:
    """Download one backup from the bucket into the backups folder, checked against its manifest; its folder.

    A backup already on disk is checked and returned as it is.
    """
    from . import aws
    from .transfer.formats.manifest import read, verify_artifact
    from .transfer.partials import OWNER, start_partial

    final = paths.backups_dir() / _checked(resource, "resource") / _checked(timestamp, "timestamp")
    with ctx.audited("fetch backup from bucket", "backup", f"{resource}/{timestamp}") as details:
        if (final / MANIFEST).exists():
            verify_artifact(final, read(final))
            details.append(f"already on disk in {final}")
            return final
        bucket = _configured(ctx)
        if bucket is None:
            raise Conflict("No backup bucket is set: name one with `changeover offsite use RESOURCE`.")
        base = f"{PREFIX}/{resource}/{timestamp}/"
        partial = start_partial(final)
        try:
            with aws.translated(f"fetch {bucket.url(base)}", "s3:ListBucket and s3:GetObject"):
                keys = [
                    str(item["Key"])
                    for page in bucket.client.get_paginator("list_objects_v2").paginate(Bucket=bucket.name, Prefix=base)
                    for item in page.get("Contents", [])
                ]
                if base + MANIFEST not in keys:
                    raise NotFound(
                        f"No backup {resource}/{timestamp} in {bucket.url(PREFIX)}: see `changeover offsite list`."
                    )
                for key in keys:
                    relative = PurePosixPath(key[len(base) :])
                    if not relative.parts or relative.is_absolute() or ".." in relative.parts:
                        raise Conflict(f"The bucket holds an unsafe name under {bucket.url(base)}: {key}.")
                    target = partial.joinpath(*relative.parts)
                    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    bucket.client.download_file(bucket.name, key, str(target))
                    target.chmod(0o600)
            verify_artifact(partial, read(partial))  # the same sha256 and size as when it was made
            (partial / OWNER).unlink()
            partial.rename(final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        details.append(f"from {bucket.url(base)} to {final}, checksum verified")
        return final
