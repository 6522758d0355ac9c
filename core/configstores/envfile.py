"""A deploy's config in a ``.env`` file.

The file is parsed with python-dotenv's own parser, which keeps the exact text of every statement, so a
change rewrites only the variables it touches: every other line, comment, blank line, quote, ``export``
prefix, a UTF-8 byte-order mark, the line endings (LF or CRLF) and the presence or absence of a final
newline stay byte for byte.

Every read-modify-write happens under an exclusive advisory lock (:func:`fcntl.flock`) on the folder that
holds the real file (the folder's inode survives the atomic rename that replaces the file; nothing is left
behind). :meth:`EnvFileStore.locked` lets a caller hold that lock across a longer change (write, restart
hook, inventory commit); it is re-entrant within a process.

Writes are atomic (temp file in the real file's folder, fsync, rename, fsync of the folder) and go through
a symlink to the file it points at. The file keeps its mode, owner and group (0600 for a new file). The
previous version is kept beside the real file as ``<name>.changeover-<UTC timestamp>.bak``, mode 0600,
written atomically too; only the newest ``keep_backups`` of them are kept.

Why one module of about 500 lines: rendering, quoting, locking and the atomic write are one promise (the
file changes exactly as said, once) and are tested together byte for byte; split, each piece would need
the others' invariants restated.
"""

from __future__ import annotations

import errno
import fcntl
import io
import logging
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dotenv.parser import Binding, parse_stream

from ..errors import ConfigStoreError, InvalidInput
from ..handles import validate_env_var

logger = logging.getLogger(__name__)

BACKUP_INFIX = ".changeover-"
NEW_FILE_MODE = 0o600
BACKUP_MODE = 0o600
DEFAULT_KEEP_BACKUPS = 5
DEFAULT_LOCK_TIMEOUT = 120.0
BOM = b"\xef\xbb\xbf"

#: characters a value may hold and still be written unquoted: every reader takes them literally
SAFE_UNQUOTED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:@%+=,-")
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _parse(text: str) -> list[Binding]:
    return list(parse_stream(io.StringIO(text)))


def encode_value(value: str) -> str:
    """The text for ``value`` on the right of ``=``, read as the same string by every common reader.

    A POSIX shell sourcing the file (``set -a; . ./.env``), python-dotenv (interpolating or not), docker
    compose and systemd's ``EnvironmentFile=`` all read the result as ``value``: unquoted only when every
    character is in :data:`SAFE_UNQUOTED`; else in single quotes (literal for all of them); else, for a
    value holding a single quote, in double quotes when nothing in it is special there. A value no form
    carries identically (``${``, or a single quote with a backslash, ``$`` or a backquote) is refused
    with :class:`ConfigStoreError`; the message never holds the value.
    """
    if "\0" in value:
        raise ConfigStoreError("This value holds a NUL character, which no environment variable can carry.")
    if "${" in value:
        raise ConfigStoreError(
            "This value holds '${', which python-dotenv expands as a variable in every form of quoting, so "
            "the application would read something else than a shell does: change the value.",
        )
    if value and all(c in SAFE_UNQUOTED for c in value):
        text = value
    elif "'" not in value and "\\\\" not in value and not value.endswith("\\"):
        # Literal for sh, compose and systemd; python-dotenv decodes only \\ and \' inside, both excluded.
        text = f"'{value}'"
    elif not any(c in value for c in "$`\\"):
        # A single quote but no backslash, '$' or '`': in double quotes, only '"' escaped, read alike by all.
        text = '"' + value.replace('"', '\\"') + '"'
    else:
        raise ConfigStoreError(
            "This value cannot be written to a .env file so that a shell, python-dotenv, docker compose and "
            "systemd all read it the same way (it combines a single quote, or two backslashes in a row, with "
            "a backslash, '$' or '`'): change the value.",
        )
    parsed = _parse(f"X={text}")
    if len(parsed) != 1 or parsed[0].value != value or parsed[0].error:  # pragma: no cover - a bug guard
        raise ConfigStoreError("This value cannot be written to a .env file exactly: change the value.")
    return text


def _line_ending(bindings: list[Binding]) -> str:
    """The file's line ending: the one ending its first terminated statement (LF for a file with none)."""
    for binding in bindings:
        original = binding.original.string
        lead = _leading_whitespace(original)  # blank lines before a statement are the file's own, too
        lf = lead.find("\n")
        if lf >= 0:
            return "\r\n" if lead[:lf].endswith("\r") else "\n"
        for ending in ("\r\n", "\n", "\r"):
            if original.endswith(ending):
                return ending
    return "\n"


def _ends_with_newline(text: str) -> bool:
    return text.endswith(("\n", "\r"))


def _strip_one_ending(text: str) -> str:
    for ending in ("\r\n", "\n", "\r"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def render(text: str, changes: dict[str, str | None]) -> str:
    """``text`` with each variable in ``changes`` set (a value) or removed (``None``).

    A variable that occurs more than once is set at its last occurrence (the one dotenv honours) and its
    earlier occurrences are removed. A new variable is appended at the end, with the file's line ending; a
    file without a final newline keeps having none, so appending and then removing a variable gives back
    the original text exactly.
    """
    bindings = _parse(text)
    last = {b.key: i for i, b in enumerate(bindings) if b.key is not None and not b.error}
    ending = _line_ending(bindings)
    out: list[str] = []
    removed_final_unterminated = False
    for i, binding in enumerate(bindings):
        original = binding.original.string
        key = binding.key
        if key is None or binding.error or key not in changes:
            out.append(original)
            continue
        value = changes[key]
        if value is None or last[key] != i:
            # Keep what leads up to the statement (blank lines dotenv folds into it).
            lead = _leading_whitespace(original)
            out.append(lead)
            if i == len(bindings) - 1 and not _ends_with_newline(original):
                removed_final_unterminated = True
            continue
        out.append(_replace_statement(original, key, value))
    result = "".join(out)
    if removed_final_unterminated:
        # The file ended without a newline on the statement just removed: it still ends without one.
        result = _strip_one_ending(result)
    for key, value in changes.items():
        if value is not None and key not in last:
            statement = f"{key}={encode_value(value)}"
            if not result:
                result = statement + ending
            elif _ends_with_newline(result):
                result += statement + ending
            else:
                result += ending + statement
    return result


def _leading_whitespace(original: str) -> str:
    stripped = original.lstrip()
    return original[: len(original) - len(stripped)]


def _replace_statement(original: str, key: str, value: str) -> str:
    lead = _leading_whitespace(original)
    body = original[len(lead) :]
    prefix = "export " if body.startswith("export") else ""
    ending = ""
    for candidate in ("\r\n", "\n", "\r"):
        if body.endswith(candidate):
            ending = candidate
            break
    return f"{lead}{prefix}{key}={encode_value(value)}{ending}"


# -- the lock ----------------------------------------------------------------------------------------


class _FolderLock:
    """An exclusive flock on one folder, re-entrant within this process (a thread waits for another)."""

    _registry: dict[str, _FolderLock] = {}
    _registry_guard = threading.Lock()

    def __init__(self) -> None:
        self.thread_lock = threading.RLock()
        self.depth = 0
        self.fd: int | None = None

    @classmethod
    def of(cls, folder: Path) -> _FolderLock:
        with cls._registry_guard:
            return cls._registry.setdefault(str(folder), cls())

    def acquire(self, folder: Path, timeout: float, shown: Path) -> None:
        if not self.thread_lock.acquire(timeout=timeout):
            raise _busy(shown, timeout)
        if self.depth:
            self.depth += 1
            return
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            self.thread_lock.release()
            raise ConfigStoreError(
                f"The folder {folder} does not exist, so the env file {shown} cannot be changed: "
                "create it or choose the right file.",
            ) from None
        except OSError as exc:
            self.thread_lock.release()
            raise ConfigStoreError(f"The folder {folder} cannot be opened ({exc.strerror}).") from None
        deadline = time.monotonic() + timeout
        pause = 0.002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    self.thread_lock.release()
                    raise _busy(shown, timeout) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
        self.fd = fd
        self.depth = 1

    def release(self) -> None:
        self.depth -= 1
        if self.depth == 0 and self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        self.thread_lock.release()


def _forget_locks_in_a_child() -> None:
    # A forked child holds none of its parent's locks (its threads are gone): start afresh.
    _FolderLock._registry = {}
    _FolderLock._registry_guard = threading.Lock()


os.register_at_fork(after_in_child=_forget_locks_in_a_child)


def _busy(shown: Path, timeout: float) -> ConfigStoreError:
    return ConfigStoreError(
        f"Another process has been changing {shown} for more than {timeout:g} s: wait until it has "
        "finished (a restart hook may still be running) and try again.",
    )


# -- the store ---------------------------------------------------------------------------------------


@dataclass
class _Written:
    """A change that was written; :meth:`revert` undoes it."""

    store: EnvFileStore
    previous: bytes | None
    backup: Path | None
    written: bytes | None = None
    undo: dict[str, str | None] = field(default_factory=dict)

    def revert(self) -> None:
        """Put the previous version back (and drop the backup this change made).

        If the file still holds what this change wrote, its previous bytes come back exactly; if someone
        changed it since, only this change's variables are put back as they were.
        """
        if self.written is None:
            return
        store = self.store
        with store.locked():
            if self.previous is None:
                store.path.unlink(missing_ok=True)
            else:
                bom, text, current = store._load()
                if current == self.written:
                    store._write_bytes(self.previous, previous=None)
                else:
                    after = bom + render(text, self.undo).encode("utf-8")
                    if after != current:
                        store._write_bytes(after, previous=None)
            if self.backup is not None:
                self.backup.unlink(missing_ok=True)


class EnvFileStore:
    kind = "envfile"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        keep_backups: int = DEFAULT_KEEP_BACKUPS,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        if keep_backups < 0 or keep_backups > 1000:
            raise InvalidInput(f"keep_backups must be a whole number from 0 to 1000, not {keep_backups}.")
        self.path = Path(path).expanduser().absolute()
        self.location = str(self.path)
        self.keep_backups = keep_backups
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"EnvFileStore({self.location!r})"

    @property
    def real_path(self) -> Path:
        """The file itself, every symlink on the way followed: what a change replaces."""
        return Path(os.path.realpath(self.path))

    def exists(self) -> bool:
        return self.path.is_file()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive lock on this file's config across a longer change; re-entrant.

        Another Changeover (another process, or another thread here) that changes the same file waits
        until the block is left. :meth:`apply` takes the lock itself, and re-reads the file under it.
        """
        folder = self.real_path.parent
        lock = _FolderLock.of(folder)
        lock.acquire(folder, self.lock_timeout, self.path)
        try:
            yield
        finally:
            lock.release()

    def _load(self) -> tuple[bytes, str, bytes]:
        """(BOM or b"", text after it, every byte of the file)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise ConfigStoreError(
                f"The env file {self.path} does not exist: create it or choose the right file.",
            ) from None
        except PermissionError:
            raise ConfigStoreError(f"The env file {self.path} cannot be read: check its permissions.") from None
        except IsADirectoryError:
            raise ConfigStoreError(f"{self.path} is a folder, not an env file: choose the .env file.") from None
        bom = BOM if data.startswith(BOM) else b""
        try:
            text = data[len(bom) :].decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigStoreError(f"The env file {self.path} is not UTF-8 text.") from None
        return bom, text, data

    def text(self) -> str:
        """The file's text (without a byte-order mark)."""
        return self._load()[1]

    def create(self) -> None:
        """Create an empty env file, readable by its owner only, unless one is already there."""
        if self.path.exists():
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE)
        except FileExistsError:
            return
        except OSError as exc:
            raise ConfigStoreError(f"Could not create {self.path}: {exc.strerror}.") from None
        os.close(fd)

    def read(self) -> dict[str, str]:
        return _values(self.text())

    def check_writable(self) -> None:
        self.text()
        real = self.real_path
        mode = real.stat().st_mode
        # Root may write anything; the file's own bits say what its owner meant.
        if not mode & stat.S_IWUSR or not os.access(real, os.W_OK):
            raise ConfigStoreError(
                f"The env file {self.path} is read-only: make it writable (chmod u+w) and try again.",
            )
        if not os.access(real.parent, os.W_OK | os.X_OK):
            raise ConfigStoreError(
                f"The folder {real.parent} is not writable, so {real.name} cannot be replaced "
                "atomically: make the folder writable and try again.",
            )

    def apply(self, changes: dict[str, str | None]) -> _Written:
        """Set (a value) or clear (``None``) variables in one atomic write, under the lock."""
        for key in changes:
            validate_env_var(key)
        with self.locked():
            bom, text, before = self._load()
            after = bom + render(text, changes).encode("utf-8")
            if after == before:
                # Nothing to write (a flag already cleared, a value already set): not even a read-only file refuses.
                return _Written(self, before, None)
            self.check_writable()
            old = _values(text)
            backup = self._write_bytes(after, previous=before)
            logger.info("wrote %s (%s)", self.path, ", ".join(sorted(changes)))
            return _Written(self, before, backup, after, {key: old.get(key) for key in changes})

    def _write_bytes(self, data: bytes, *, previous: bytes | None) -> Path | None:
        """Replace the real file with ``data``; first keep ``previous`` as a backup (if given and kept)."""
        real = self.real_path
        folder = real.parent
        try:
            owner: os.stat_result | None = real.stat()
        except FileNotFoundError:
            owner = None
        mode = stat.S_IMODE(owner.st_mode) if owner else NEW_FILE_MODE
        backup = None
        try:
            if previous is not None and owner is not None and self.keep_backups > 0:
                backup = self._new_backup_path(real)
                _atomic_write(backup, previous, BACKUP_MODE, owner)
            _atomic_write(real, data, mode, owner)
        except OSError as exc:
            if backup is not None:
                backup.unlink(missing_ok=True)
            if exc.errno in _NO_SPACE:
                raise ConfigStoreError(
                    f"No space left on the device holding {folder}: free some space and try again; "
                    f"{self.path} is unchanged.",
                ) from None
            raise ConfigStoreError(f"Could not write {self.path}: {exc.strerror}; it is unchanged.") from None
        _fsync_folder(folder)
        if backup is not None:
            self._prune_backups(real)
        return backup

    def _new_backup_path(self, real: Path) -> Path:
        moment = datetime.now(UTC)
        while True:
            candidate = real.with_name(f"{real.name}{BACKUP_INFIX}{moment.strftime('%Y%m%dT%H%M%S%fZ')}.bak")
            if not candidate.exists():
                return candidate
            moment += timedelta(microseconds=1)

    def _prune_backups(self, real: Path) -> None:
        """Keep the newest ``keep_backups`` backups, each no more open than 0600."""
        found = _backups_of(real)
        for old in found[: max(0, len(found) - self.keep_backups)]:
            try:
                old.unlink()
            except OSError as exc:
                logger.warning("could not remove the old backup %s: %s", old, exc.strerror)
        for kept in found[-self.keep_backups :]:
            try:
                if stat.S_IMODE(kept.stat().st_mode) & ~BACKUP_MODE:
                    kept.chmod(BACKUP_MODE)
            except OSError:
                continue

    def backups(self) -> list[Path]:
        """The copies of earlier versions, oldest first (beside the real file, if the .env is a symlink)."""
        return _backups_of(self.real_path)


def _values(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for binding in _parse(text):
        if binding.key is not None and not binding.error:
            values[binding.key] = binding.value or ""
    return values


def _backups_of(real: Path) -> list[Path]:
    return sorted(real.parent.glob(f"{real.name}{BACKUP_INFIX}*.bak"))


def _atomic_write(target: Path, data: bytes, mode: int, owner: os.stat_result | None) -> None:
    """Write ``data`` to a temp file beside ``target`` (owner, group and mode set), then rename it over."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        try:
            if owner is not None and (owner.st_uid, owner.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.fchown(fd, owner.st_uid, owner.st_gid)
                except PermissionError:
                    logger.warning("could not keep the owner of %s (not allowed): it is now ours", target)
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync_folder(folder: Path) -> None:
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
