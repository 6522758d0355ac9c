"""A tiny twelve-factor web app: its config (DATABASE_URL, PORT, MAINTENANCE_MODE) comes from a .env file.

    python app.py --env-file /srv/shop/.env

- ``GET /health`` answers 200 with ``{"maintenance": ..., "backend": ...}`` (also in maintenance).
- ``POST /items`` inserts a row (the database picks the id) and answers 201 with ``{"id": ..., "value": ...}``.
- ``GET /items`` answers 200 with every row.
- While ``MAINTENANCE_MODE`` is set (to anything but an empty string) in the .env, ``/items`` answers 503 and
  the app does not connect to its database at all, so an upgrade can see the database go quiet.

The config is read once, at start: Changeover changes the .env and then restarts the app through its
restart hook (``appctl.py restart``). The ``items`` table is created on the first start if it is missing.
SIGTERM stops the app gracefully: requests in flight finish, then the connections are closed.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dotenv import dotenv_values
from sqlalchemy.engine import URL, make_url

logger = logging.getLogger("twelve_factor_app")

metadata = sa.MetaData()
items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("value", sa.String(200), nullable=False),
)

DRIVERS = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}
DRIVERS["mariadb"] = "mysql+pymysql"


def database_url(text: str) -> URL:
    """The SQLAlchemy URL for a twelve-factor handle: ``postgres(ql)://`` and ``mysql://`` get a driver."""
    url = make_url(text)
    if "+" not in url.drivername and url.drivername in DRIVERS:
        url = url.set(drivername=DRIVERS[url.drivername])
    return url


class Config:
    def __init__(self, env_file: Path) -> None:
        values = {k: v or "" for k, v in dotenv_values(env_file).items()}
        self.env_file = env_file
        self.maintenance = bool(values.get("MAINTENANCE_MODE", ""))
        self.port = int(values.get("PORT") or 8000)
        self.host = values.get("HOST") or "127.0.0.1"
        if not values.get("DATABASE_URL"):
            raise SystemExit(f"DATABASE_URL is not set in {env_file}")
        self.url = database_url(values["DATABASE_URL"])


class App:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.engine: sa.Engine | None = None
        if not config.maintenance:
            self.engine = sa.create_engine(config.url, pool_pre_ping=True, pool_size=4)
            metadata.create_all(self.engine)  # checkfirst: the table is created only when missing

    def add(self, value: str) -> int:
        assert self.engine is not None
        with self.engine.begin() as conn:
            result = conn.execute(items.insert().values(value=value))
            return int(result.inserted_primary_key[0])

    def all(self) -> list[dict[str, Any]]:
        assert self.engine is not None
        with self.engine.connect() as conn:
            return [{"id": r.id, "value": r.value} for r in conn.execute(sa.select(items).order_by(items.c.id))]

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


def handler_for(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "TwelveFactorApp/1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            logger.debug(format, *args)

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _maintenance(self) -> bool:
            if app.config.maintenance:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "down for maintenance"})
                return True
            return False

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/health":
                self._send(
                    HTTPStatus.OK,
                    {"maintenance": app.config.maintenance, "backend": app.config.url.get_backend_name()},
                )
            elif self.path == "/items":
                if not self._maintenance():
                    self._send(HTTPStatus.OK, {"items": app.all()})
            else:
                self._send(HTTPStatus.NOT_FOUND, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path != "/items":
                self._send(HTTPStatus.NOT_FOUND, {"error": "not found"})
                return
            if self._maintenance():
                return
            try:
                value = str(json.loads(raw or b"{}").get("value") or "item")[:200]
            except (ValueError, AttributeError):
                self._send(HTTPStatus.BAD_REQUEST, {"error": "send a JSON object"})
                return
            try:
                new_id = app.add(value)
            except sa.exc.SQLAlchemyError as exc:
                logger.warning("insert failed: %s", str(exc).splitlines()[0])
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "the database refused the write"})
                return
            self._send(HTTPStatus.CREATED, {"id": new_id, "value": value})

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", default=".env", help="the app's config (default: ./.env)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = Config(Path(args.env_file).absolute())
    app = App(config)
    server = ThreadingHTTPServer((config.host, config.port), handler_for(app))
    server.daemon_threads = False  # let requests in flight finish on shutdown

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    mode = "in maintenance" if config.maintenance else f"on {config.url.get_backend_name()}"
    logger.info("serving on %s:%d %s", config.host, config.port, mode)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()  # joins the request threads
        app.close()
        logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
