"""A deploy's config in a ``.env`` file.

The file is parsed with python-dotenv's own parser, which keeps the exact text of every statement, so a
change rewrites only the variables it touches: every other line, comment, blank line, quote, ``export``
prefix and the presence or absence of a final newline stay byte for byte. Writes are atomic (temp file,
fsync, rename, fsync of the folder), keep the file's mode (0600 for a new file) and leave a timestamped
copy of the previous version beside it.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dotenv.parser import Binding, parse_stream

from ..errors import ConfigStoreError
from ..handles import validate_env_var

logger = logging.getLogger(__name__)

BACKUP_INFIX = ".changeover-"
NEW_FILE_MODE = 0o600


def _parse(text: str) -> list[Binding]:
    return list(parse_stream(io.StringIO(text)))


def encode_value(value: str) -> str:
    """The text for ``value`` on the right of ``=``, quoted only when it has to be.

    The result is checked by parsing it back with python-dotenv: a value that cannot survive the round
    trip is refused rather than written wrong.
    """
    plain = value and not any(c.isspace() for c in value) and "#" not in value
    plain = plain and value[0] not in "'\"" and "\\" not in value and "${" not in value
    text = value if plain else "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    parsed = _parse(f"X={text}")
    if len(parsed) != 1 or parsed[0].value != value or parsed[0].error:
        raise ConfigStoreError(
            "This value cannot be written to a .env file exactly (it combines a backslash with quotes "
            "or line breaks that python-dotenv cannot read back); change the value.",
        )
    return text


def render(text: str, changes: dict[str, str | None]) -> str:
    """``text`` with each variable in ``changes`` set (a value) or removed (``None``).

    A variable that occurs more than once is set at its last occurrence (the one dotenv honours) and its
    earlier occurrences are removed. A new variable is appended at the end.
    """
    bindings = _parse(text)
    last = {b.key: i for i, b in enumerate(bindings) if b.key is not None and not b.error}
    out: list[str] = []
    for i, binding in enumerate(bindings):
        original = binding.original.string
        key = binding.key
        if key is None or binding.error or key not in changes:
            out.append(original)
            continue
        value = changes[key]
        if value is None or last[key] != i:
            # Keep what leads up to the statement (blank lines dotenv folds into it).
            out.append(_leading_whitespace(original))
            continue
        out.append(_replace_statement(original, key, value))
    result = "".join(out)
    for key, value in changes.items():
        if value is not None and key not in last:
            if result and not result.endswith(("\n", "\r")):
                result += "\n"
            result += f"{key}={encode_value(value)}\n"
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


@dataclass
class _Written:
    store: EnvFileStore
    previous: bytes | None
    backup: Path | None

    def revert(self) -> None:
        """Put the previous version back (and drop the backup this change made)."""
        if self.previous is None:
            self.store.path.unlink(missing_ok=True)
        else:
            self.store._write_bytes(self.previous, make_backup=False)
        if self.backup is not None:
            self.backup.unlink(missing_ok=True)


class EnvFileStore:
    kind = "envfile"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser().absolute()
        self.location = str(self.path)

    def __repr__(self) -> str:
        return f"EnvFileStore({self.location!r})"

    def exists(self) -> bool:
        return self.path.is_file()

    def text(self) -> str:
        try:
            return self.path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise ConfigStoreError(
                f"The env file {self.path} does not exist: create it or choose the right file.",
            ) from None
        except PermissionError:
            raise ConfigStoreError(f"The env file {self.path} cannot be read: check its permissions.") from None
        except IsADirectoryError:
            raise ConfigStoreError(f"{self.path} is a folder, not an env file: choose the .env file.") from None
        except UnicodeDecodeError:
            raise ConfigStoreError(f"The env file {self.path} is not UTF-8 text.") from None

    def create(self) -> None:
        """Create an empty env file, readable by its owner only, unless one is already there."""
        if self.path.exists():
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE)
        except OSError as exc:
            raise ConfigStoreError(f"Could not create {self.path}: {exc.strerror}.") from None
        os.close(fd)

    def read(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for binding in _parse(self.text()):
            if binding.key is not None and not binding.error:
                values[binding.key] = binding.value or ""
        return values

    def check_writable(self) -> None:
        self.text()
        mode = self.path.stat().st_mode
        # Root may write anything; the file's own bits say what its owner meant.
        if not mode & stat.S_IWUSR or not os.access(self.path, os.W_OK):
            raise ConfigStoreError(
                f"The env file {self.path} is read-only: make it writable (chmod u+w) and try again.",
            )
        if not os.access(self.path.parent, os.W_OK | os.X_OK):
            raise ConfigStoreError(
                f"The folder {self.path.parent} is not writable, so {self.path.name} cannot be replaced "
                "atomically: make the folder writable and try again.",
            )

    def apply(self, changes: dict[str, str | None]) -> _Written:
        for key in changes:
            validate_env_var(key)
        before = self.text().encode("utf-8")
        after = render(before.decode("utf-8"), changes)
        if after.encode("utf-8") == before:
            # Nothing to write (a flag already cleared, a value already set): not even a read-only file refuses.
            return _Written(self, before, None)
        self.check_writable()
        backup = self._write_bytes(after.encode("utf-8"), make_backup=True)
        logger.info("wrote %s (%s)", self.path, ", ".join(sorted(changes)))
        return _Written(self, before, backup)

    def _write_bytes(self, data: bytes, *, make_backup: bool) -> Path | None:
        backup = None
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
            exists = True
        except FileNotFoundError:
            mode, exists = NEW_FILE_MODE, False
        if make_backup and exists:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            backup = self.path.with_name(f"{self.path.name}{BACKUP_INFIX}{stamp}.bak")
            shutil.copy2(self.path, backup)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            if backup is not None:
                backup.unlink(missing_ok=True)
            raise ConfigStoreError(f"Could not write {self.path}: {exc.strerror}.") from None
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return backup

    def backups(self) -> list[Path]:
        """The copies of earlier versions, oldest first."""
        return sorted(self.path.parent.glob(f"{self.path.name}{BACKUP_INFIX}*.bak"))
