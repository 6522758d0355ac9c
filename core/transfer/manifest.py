"""Moved to :mod:`.formats.manifest`; this name stays until core/backups.py and core/upgrade/procedure.py
import from there (then delete this file)."""

from .formats.manifest import BackupInvalid, Manifest, TableEntry, digest_artifact, read, stamp, verify_artifact

__all__ = ["BackupInvalid", "Manifest", "TableEntry", "digest_artifact", "read", "stamp", "verify_artifact"]
