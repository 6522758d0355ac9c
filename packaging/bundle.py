"""Build the PyInstaller bundle, start it as a user would, measure it, and install it (CI runs this).

    python3 packaging/bundle.py [--install ~/.local]          (from a checkout: builds, checks, installs)
    python3 packaging/bundle.py --python PY [--no-build] [--runs 5] [--write-benchmarks docs/benchmarks.md]

``--python`` is an interpreter with PyInstaller and the app's dependencies (CI: its own venv that sees the
project's .venv); without it, one is made in build/pyinstaller with PyInstaller and this checkout. Then,
each in throw-away HOME and XDG folders, so no real inventory or keyring is used: the window is started
offscreen until the main window is shown and closed (``CHANGEOVER_CLOSE_WHEN_SHOWN``, exit 0 expected),
``changeover --version`` must answer the project's version, and, where D-Bus and GNOME Keyring are
installed (always in CI), ``changeover status --json`` must find a usable Secret Service through the
bundled keyring backends, and ``changeover check`` must reach an S3 bucket on a local moto server (only
S3's AWS models are bundled). Any failure exits 1 with what failed, and nothing is installed.

``--install PREFIX`` then copies the bundle to PREFIX/lib/changeover, links PREFIX/bin/changeover, and
puts the desktop entry, icon and AppStream metadata under PREFIX/share, so the menus list Changeover.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "changeover.spec"
APP_ID = "io.github.changeover.changeover"
SECTION = "## Desktop bundle (packaging/bundle.py)"
SHOWN = re.compile(r"main window shown ([0-9.]+) s after start")
TIMEOUT = 120


class Failed(Exception):
    pass


def user_env(base: Path) -> dict[str, str]:
    """The environment of a user who never ran Changeover, with no display."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHANGEOVER_", "XDG_", "DBUS_"))}
    home = base / "home"
    env |= {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(base / "run"),
        "QT_QPA_PLATFORM": "offscreen",
    }
    home.mkdir(parents=True)
    (base / "run").mkdir(mode=0o700)
    return env


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise Failed(f"{' '.join(argv)} did not finish within {TIMEOUT} s") from exc


def pyinstaller_python() -> str:
    """An interpreter that has PyInstaller and the app: this one, or a venv made for it in build/."""
    if (
        subprocess.run([sys.executable, "-c", "import PyInstaller, changeover.gui"], capture_output=True).returncode
        == 0
    ):
        return sys.executable
    venv = ROOT / "build" / "pyinstaller"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "pyinstaller", str(ROOT)], check=True)
    return str(python)


def build(python: str, dist: Path, work: Path) -> float:
    started = time.perf_counter()
    argv = [python, "-m", "PyInstaller", "--noconfirm", "--log-level=WARN", f"--distpath={dist}"]
    subprocess.run([*argv, f"--workpath={work}", str(SPEC)], check=True, cwd=ROOT)
    return time.perf_counter() - started


def start_window(exe: Path) -> tuple[float, float]:
    """Seconds from exec to the main window shown (as the app measures it, and as a user waits)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = user_env(Path(tmp)) | {"CHANGEOVER_CLOSE_WHEN_SHOWN": "1"}
        started = time.perf_counter()
        done = run([str(exe)], env)
        wall = time.perf_counter() - started
    shown = SHOWN.search(done.stderr)
    if done.returncode != 0 or shown is None:
        raise Failed(f"the window did not start and close (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return float(shown.group(1)), wall


def check_version(exe: Path) -> str:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    with tempfile.TemporaryDirectory() as tmp:
        done = run([str(exe), "--version"], user_env(Path(tmp)))
    if done.returncode != 0 or not done.stdout.startswith(f"changeover {version}\n"):
        raise Failed(f"changeover --version answered (exit {done.returncode}): {done.stdout}{done.stderr}")
    return done.stdout.splitlines()[0]


def in_keyring_session(exe: Path, script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``script`` (sh, the bundle as ``$1``) in a private D-Bus session with an unlocked GNOME Keyring."""
    unlock = "printf %s bundle-check | gnome-keyring-daemon --unlock --components=secrets --daemonize >/dev/null"
    return run(["dbus-run-session", "--", "sh", "-c", f"{unlock} && {script}", "sh", str(exe)], env)


def check_keyring(exe: Path) -> str:
    """The bundle's keyring backend against a private GNOME Keyring (RECIPES.md), or why it was not tried."""
    tools = ("dbus-run-session", "gnome-keyring-daemon")
    if not all(shutil.which(tool) for tool in tools):
        if os.environ.get("CI"):
            raise Failed(f"{' and '.join(tools)} are needed to check the bundle's keyring (Debian: dbus gnome-keyring)")
        return "not checked (no dbus-run-session or gnome-keyring-daemon)"
    with tempfile.TemporaryDirectory() as tmp:
        done = in_keyring_session(exe, '"$1" status --json', user_env(Path(tmp)))
    try:
        keyring = json.loads(done.stdout)["keyring"]
    except (ValueError, KeyError) as exc:
        raise Failed(f"changeover status --json in a private keyring (exit {done.returncode}): {done.stderr}") from exc
    if not keyring["usable"]:
        raise Failed(f"the bundle found no usable keyring in a running GNOME Keyring: {keyring}")
    return f"{keyring['name']} ({keyring['backend']})"


def check_s3(exe: Path) -> str:
    """The bundle checks a bucket on a local moto server: the AWS models it keeps are the ones S3 needs."""
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        if os.environ.get("CI"):
            raise Failed("moto[server] is needed to check the bundle's S3 (pip install -e '.[test]')") from exc
        return "not checked (no moto)"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        keys = {"aws_access_key_id": "AKIDBUNDLE", "aws_secret_access_key": "bundle-check"}
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys).create_bucket(Bucket="bundle-check")
        handle = "s3://AKIDBUNDLE:bundle-check@bundle-check?region=us-east-1"
        script = f'printf %s "{handle}" | "$1" resource add bucket - >/dev/null && "$1" check bucket --json'
        with tempfile.TemporaryDirectory() as tmp:
            done = in_keyring_session(exe, script, user_env(Path(tmp)) | {"AWS_ENDPOINT_URL": endpoint})
    finally:
        server.stop()
    try:
        [result] = json.loads(done.stdout)
    except ValueError as exc:
        raise Failed(f"changeover check of an S3 bucket (exit {done.returncode}): {done.stdout}{done.stderr}") from exc
    if done.returncode != 0 or result["status"] != "ok":
        raise Failed(f"the bundle's S3 check failed: {result['reason']}")
    return "a bucket on a local moto server answered HeadBucket"


def install(bundle: Path, prefix: Path) -> Path:
    """The bundle and its desktop metadata under ``prefix``; the installed command, checked."""
    target = prefix / "lib" / "changeover"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(bundle, target, symlinks=True)
    command = prefix / "bin" / "changeover"
    command.parent.mkdir(parents=True, exist_ok=True)
    command.unlink(missing_ok=True)
    command.symlink_to(target / "changeover")
    share = prefix / "share"
    desktop = (ROOT / "packaging" / f"{APP_ID}.desktop").read_text()
    files = {
        share / "applications" / f"{APP_ID}.desktop": desktop.replace("\nExec=changeover\n", f"\nExec={command}\n"),
        share / "metainfo" / f"{APP_ID}.metainfo.xml": (ROOT / "packaging" / f"{APP_ID}.metainfo.xml").read_text(),
        share / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg": (ROOT / "resources/icons/app.svg").read_text(),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    check_version(command)
    return command


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def write_section(path: Path, lines: list[str]) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = text.find("\n" + SECTION)
    if start == -1:
        text = text.rstrip("\n") + "\n"
    else:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + (text[end + 1 :] if end != -1 else "")
        text = text.rstrip("\n") + "\n"
    path.write_text(text + "\n" + "\n".join([SECTION, "", *lines]) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", help="an interpreter with PyInstaller and the app (default: made in build/)")
    parser.add_argument("--dist", type=Path, default=ROOT / "build" / "dist")
    parser.add_argument("--no-build", action="store_true", help="check the bundle already in --dist")
    parser.add_argument("--runs", type=int, default=3, help="window starts to time (the first is a first start)")
    parser.add_argument("--write-benchmarks", type=Path, metavar="MD", help="record the numbers in this file")
    parser.add_argument("--install", type=Path, metavar="PREFIX", help="then install it there (e.g. ~/.local)")
    args = parser.parse_args(argv)
    exe = args.dist / "changeover" / "changeover"
    try:
        if args.no_build:
            built = None
        else:
            built = build(args.python or pyinstaller_python(), args.dist, ROOT / "build" / "pyinstaller-work")
        starts = [start_window(exe) for _ in range(max(args.runs, 1))]
        version = check_version(exe)
        keyring = check_keyring(exe)
        s3 = check_s3(exe) if "not checked" not in keyring else "not checked (no keyring)"
        installed = install(exe.parent, args.install.expanduser()) if args.install else None
    except (Failed, subprocess.CalledProcessError) as exc:
        print(f"bundle: FAILED: {exc}", file=sys.stderr)
        return 1
    size = size_mb(exe.parent)
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `python3 packaging/bundle.py "
        "--write-benchmarks docs/benchmarks.md` (CI runs the same checks) on the machine above, its load "
        f"average {os.getloadavg()[0]:.1f} on 2 cores (shared with other work: the times are noisy), offscreen "
        "(`QT_QPA_PLATFORM=offscreen`), each start in a new HOME with no inventory yet (so it creates one). "
        "Start-up is the time from exec to the main window shown, by the app's clock (from the launcher's "
        "import) and by the wall clock (what a user waits, process start included).",
        "",
        "| what | value |",
        "| --- | ---: |",
        f"| bundle size (`dist/changeover/`, one folder) | {size:.0f} MB |",
        *([f"| build time (PyInstaller) | {built:.0f} s |"] if built is not None else []),
        f"| start-up, median of {len(starts)} (app / wall clock) | {statistics.median(s[0] for s in starts):.2f} s"
        f" / {statistics.median(s[1] for s in starts):.2f} s |",
        f"| slowest start (app / wall clock) | {max(s[0] for s in starts):.2f} s / {max(s[1] for s in starts):.2f} s |",
        "",
        f"`changeover --version`: {version}. Keyring found by the bundle: {keyring}. S3 from the bundle: {s3}",
    ]
    print("\n".join(lines))
    if args.write_benchmarks:
        write_section(args.write_benchmarks, lines)
    if installed is not None:
        print(f"installed: {installed} (and Changeover in the applications menu)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
