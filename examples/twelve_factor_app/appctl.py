"""Start, stop or restart the example app; meant as a deploy's restart hook in Changeover.

    python appctl.py start|stop|restart|status [--env-file .env]

The pid goes to ``app.pid`` and the app's output to ``app.log``, both next to the .env file (Changeover
runs hooks in the .env's folder, so the default ``.env`` is the deploy's). ``start`` returns once the app
answers on its port (exit 1 with the end of its log if it dies or does not answer in time); ``stop``
sends SIGTERM, waits for the app to finish its requests and exit, and kills it if it does not.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dotenv import dotenv_values

APP = Path(__file__).with_name("app.py")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def _pid_file(env_file: Path) -> Path:
    return env_file.with_name("app.pid")


def _alive(pid: int) -> bool:
    """True while ``pid`` runs the app (a zombie, or a pid reused by another program, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X") and str(APP).encode() in cmdline


def running_pid(env_file: Path) -> int | None:
    try:
        pid = int(_pid_file(env_file).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _answers(host: str, port: int) -> bool:
    connection = http.client.HTTPConnection(host, port, timeout=1)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def start(env_file: Path) -> int:
    if (pid := running_pid(env_file)) is not None:
        print(f"already running (pid {pid})")
        return 0
    values = dotenv_values(env_file)
    host, port = values.get("HOST") or "127.0.0.1", int(values.get("PORT") or 8000)
    log = env_file.with_name("app.log")
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, str(APP), "--env-file", str(env_file)],
            cwd=env_file.parent,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the hook, and a hook timeout does not kill it
        )
    _pid_file(env_file).write_text(f"{process.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            print(f"the app exited with {process.returncode}:", *tail, sep="\n", file=sys.stderr)
            return 1
        if _answers(host, port):
            print(f"started (pid {process.pid}) on {host}:{port}")
            return 0
        time.sleep(0.05)
    print(f"the app did not answer on {host}:{port} within {START_TIMEOUT:g} s", file=sys.stderr)
    return 1


def stop(env_file: Path) -> int:
    pid = running_pid(env_file)
    if pid is None:
        print("not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    _pid_file(env_file).unlink(missing_ok=True)
    print(f"stopped (pid {pid})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start, stop or restart the example app.")
    parser.add_argument("action", choices=("start", "stop", "restart", "status"))
    parser.add_argument("--env-file", default=".env", help="the app's config (default: ./.env)")
    args = parser.parse_args(argv)
    env_file = Path(args.env_file).absolute()
    if not env_file.is_file():
        print(f"{env_file} does not exist", file=sys.stderr)
        return 1
    if args.action == "status":
        pid = running_pid(env_file)
        print(f"running (pid {pid})" if pid else "not running")
        return 0 if pid else 3
    if args.action in ("stop", "restart"):
        stop(env_file)
    return start(env_file) if args.action in ("start", "restart") else 0


if __name__ == "__main__":
    sys.exit(main())
