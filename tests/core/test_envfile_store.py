"""The .env store on a real file system: a lock that makes concurrent changes all land, symlinks followed,
owners kept, backups bounded and private, a full disk that leaves nothing half-written."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dotenv import dotenv_values

from changeover.core.configstores import open_store
from changeover.core.configstores.envfile import EnvFileStore
from changeover.core.errors import ConfigStoreError, InvalidInput

ORIGINAL = "# shop, production\nexport SECRET_KEY='s3cr\\'et'\r\nDEBUG=0\n\nTAIL=last"


def _apply_in_a_process(path: Path, changes: dict[str, str | None], *, lock_timeout: float = 120.0) -> str:
    """Code for ``python -c``: wait for stdin to close (a common start), then apply ``changes``."""
    return (
        "import sys\n"
        "from changeover.core.configstores.envfile import EnvFileStore\n"
        "from changeover.core.errors import ConfigStoreError\n"
        "sys.stdin.read()\n"
        "try:\n"
        f"    EnvFileStore({str(path)!r}, lock_timeout={lock_timeout!r}).apply({changes!r})\n"
        "except ConfigStoreError as exc:\n"
        "    print(exc.message, file=sys.stderr)\n"
        "    sys.exit(1)\n"
    )


def test_twenty_processes_changing_one_file_at_once_all_land(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(ORIGINAL)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _apply_in_a_process(path, {f"VAR_{i}": f"value-{i}"})],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(20)
    ]
    for proc in procs:  # every one is started and waiting: let them all go at once
        assert proc.stdin is not None
        proc.stdin.close()
    results = [(proc.wait(timeout=120), proc.stderr.read() if proc.stderr else "") for proc in procs]
    for proc in procs:
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    assert results == [(0, "")] * 20
    after = path.read_bytes().decode()
    assert after.startswith(ORIGINAL + "\n")  # every byte there before is still there, unchanged
    added = after[len(ORIGINAL) + 1 :].split("\n")
    assert sorted(added) == sorted(f"VAR_{i}=value-{i}" for i in range(20))  # each once, nothing else
    values = dotenv_values(path)
    assert [values[f"VAR_{i}"] for i in range(20)] == [f"value-{i}" for i in range(20)]
    store = EnvFileStore(path)
    assert len(store.backups()) == 5
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_held_lock_makes_another_process_wait_and_apply_inside_it_does_not_deadlock(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    store = EnvFileStore(path)
    with store.locked():
        with store.locked():  # re-entrant
            store.apply({"B": "2"})
        other = subprocess.run(
            [sys.executable, "-c", _apply_in_a_process(path, {"C": "3"}, lock_timeout=0.3)],
            input="",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert other.returncode == 1
        assert f"Another process has been changing {path}" in other.stderr
        store.apply({"D": "4"})
    assert path.read_text() == "A=1\nB=2\nD=4\n"
    after = subprocess.run(
        [sys.executable, "-c", _apply_in_a_process(path, {"C": "3"}, lock_timeout=30)],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert after.returncode == 0, after.stderr
    assert path.read_text() == "A=1\nB=2\nD=4\nC=3\n"


def test_another_thread_waits_for_the_lock_too(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    failures: list[str] = []

    def elsewhere() -> None:
        try:
            EnvFileStore(path, lock_timeout=0.2).apply({"B": "2"})
        except ConfigStoreError as exc:
            failures.append(exc.message)

    with EnvFileStore(path).locked():
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join(timeout=30)
    assert len(failures) == 1 and "Another process" in failures[0]
    assert path.read_text() == "A=1\n"


def test_apply_rereads_the_file_under_the_lock(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    store = EnvFileStore(path)
    store.read()
    path.write_text("A=1\nOTHER=written meanwhile\n")  # another tool changed it after our read
    store.apply({"B": "2"})
    assert path.read_text() == "A=1\nOTHER=written meanwhile\nB=2\n"


def test_revert_after_someone_else_changed_the_file_undoes_only_our_variables(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    change = EnvFileStore(path).apply({"A": "2", "B": "new"})
    EnvFileStore(path).apply({"C": "3"})
    change.revert()
    assert path.read_text() == "A=1\nC=3\n"


def test_a_symlinked_env_is_changed_through_the_link(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    app = tmp_path / "app"
    shared.mkdir()
    app.mkdir()
    real = shared / "prod.env"
    real.write_text("A=1\n")
    real.chmod(0o640)
    link = app / ".env"
    link.symlink_to("../shared/prod.env")
    store = EnvFileStore(link)
    change = store.apply({"B": "2"})
    assert link.is_symlink() and os.readlink(link) == "../shared/prod.env"
    assert real.read_text() == "A=1\nB=2\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    [backup] = store.backups()
    assert backup.parent == shared and backup.read_text() == "A=1\n"
    assert sorted(p.name for p in app.iterdir()) == [".env"]  # no temp file, no backup beside the link
    assert sorted(p.name for p in shared.iterdir()) == sorted(["prod.env", backup.name])
    change.revert()
    assert link.is_symlink() and real.read_text() == "A=1\n"


def test_owner_group_and_mode_are_kept_for_the_file_and_its_backup(tmp_path: Path) -> None:
    assert os.geteuid() == 0, "this machine runs the tests as root"
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    os.chown(path, 1000, 1000)
    path.chmod(0o640)
    store = EnvFileStore(path)
    store.apply({"B": "2"})
    info = path.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1000, 1000, 0o640)
    [backup] = store.backups()
    binfo = backup.stat()
    assert (binfo.st_uid, binfo.st_gid, stat.S_IMODE(binfo.st_mode)) == (1000, 1000, 0o600)


def test_backups_are_bounded_private_and_hold_the_previous_versions(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("N=0\n")
    path.chmod(0o644)
    old = tmp_path / ".env.changeover-20000101T000000000000Z.bak"  # left by an earlier Changeover
    old.write_text("N=old\n")
    old.chmod(0o644)
    store = EnvFileStore(path, keep_backups=3)
    for n in range(1, 8):
        store.apply({"N": str(n)})
    backups = store.backups()
    assert [b.read_text() for b in backups] == ["N=4\n", "N=5\n", "N=6\n"]  # the newest three, oldest first
    assert not old.exists()
    assert {stat.S_IMODE(b.stat().st_mode) for b in backups} == {0o600}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    none_kept = EnvFileStore(path, keep_backups=0)
    none_kept.apply({"N": "8"})
    assert none_kept.backups() == backups
    assert open_store("envfile", str(path), keep_backups=1).apply({"N": "9"}).backup is not None
    assert len(store.backups()) == 1


def test_keep_backups_out_of_range_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="keep_backups must be a whole number from 0 to 1000"):
        EnvFileStore(tmp_path / ".env", keep_backups=-1)


# -- a full disk, for real: a 64 KiB tmpfs ------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    assert os.geteuid() == 0, "this machine runs the tests as root"
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def _fill(folder: Path) -> list[Path]:
    """Fill the file system with one-page files until it is full; return them."""
    fillers: list[Path] = []
    for n in range(1000):
        filler = folder / f"filler-{n}"
        try:
            with filler.open("wb") as handle:
                handle.write(b"x" * 4096)
        except OSError:
            filler.unlink(missing_ok=True)
            return fillers
        fillers.append(filler)
    raise AssertionError("the small disk never filled up")


def _env_on(folder: Path) -> tuple[Path, bytes]:
    path = folder / ".env"
    original = b"# about two pages of config\n" + b"".join(b"K%03d=%s\n" % (i, b"v" * 60) for i in range(90))
    path.write_bytes(original)
    return path, original


def _assert_unchanged(folder: Path, path: Path, original: bytes, exc: pytest.ExceptionInfo[ConfigStoreError]) -> None:
    assert exc.value.message == (
        f"No space left on the device holding {folder}: free some space and try again; {path} is unchanged."
    )
    assert path.read_bytes() == original
    left = sorted(p.name for p in folder.iterdir() if not p.name.startswith("filler-"))
    assert left == [".env"]  # no truncated backup, no temp file


def test_a_full_disk_while_writing_the_backup_changes_nothing(small_disk: Path) -> None:
    path, original = _env_on(small_disk)
    _fill(small_disk)
    with pytest.raises(ConfigStoreError) as caught:
        EnvFileStore(path).apply({"NEW": "value"})
    _assert_unchanged(small_disk, path, original, caught)


def test_a_full_disk_while_writing_the_file_changes_nothing(small_disk: Path) -> None:
    path, original = _env_on(small_disk)
    fillers = _fill(small_disk)
    pages = -(-len(original) // 4096)
    for filler in fillers[:pages]:  # room for the backup (a copy), none for the new, longer file
        filler.unlink()
    with pytest.raises(ConfigStoreError) as caught:
        EnvFileStore(path).apply({"NEW": "v" * 4096})
    _assert_unchanged(small_disk, path, original, caught)
    for filler in fillers[pages:]:
        filler.unlink()
    EnvFileStore(path).apply({"NEW": "v" * 4096})  # with room again, the same change is written
    assert dotenv_values(path)["NEW"] == "v" * 4096


def test_a_child_forked_while_the_lock_is_held_waits_for_it_like_anyone(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    with EnvFileStore(path).locked():
        pid = os.fork()
        if pid == 0:  # the child: the parent's lock is not its own
            try:
                EnvFileStore(path, lock_timeout=0.2).apply({"B": "2"})
                code = 0
            except ConfigStoreError:
                code = 3
            os._exit(code)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 3
    assert path.read_text() == "A=1\n"


def test_a_bom_file_is_read_and_changed_with_its_bom_kept(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"\xef\xbb\xbfA=1\r\nB=2\r\n")
    store = EnvFileStore(path)
    assert store.read() == {"A": "1", "B": "2"}
    store.apply({"A": "x y", "C": "3"})
    assert path.read_bytes() == b"\xef\xbb\xbfA='x y'\r\nB=2\r\nC=3\r\n"


def test_a_value_no_form_carries_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    with pytest.raises(ConfigStoreError, match="change the value"):
        EnvFileStore(path).apply({"A": "it's a \\ and $HOME"})
    assert path.read_text() == "A=1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]
