"""The demo workspace: a sample deploy to try Changeover on, made through the ordinary use cases.

In the user data folder (``demo/``) it writes a SQLite database with sample data and a ``.env``, then
adds the deploy ``demo-shop`` (restart hook ``true``, maintenance flag ``MAINTENANCE_MODE``), registers
the database and a password-protected cache, attaches both, and leaves one older database detached and
past its keep-until date, so the reminder shows. When the provisioning module offers
``register_server``, a SQLite server folder to upgrade into is registered too.
"""

from __future__ import annotations

import logging
import random
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from . import paths
from .workspace import Workspace

logger = logging.getLogger(__name__)

DEPLOY = "demo-shop"
DATABASE = "demo-shop-db"
OLD_DATABASE = "demo-shop-db-2024"
CACHE = "demo-shop-cache"
SERVER = "demo-sqlite-server"


@dataclass(frozen=True)
class Demo:
    folder: Path
    env_file: Path
    database: Path
    deploy: str
    secrets: tuple[str, ...]  # every secret value the demo stored, so tests can check none is shown


def create_demo(workspace: Workspace, folder: Path | None = None) -> Demo:
    """Create the demo files and register them in ``workspace`` (which should be empty)."""
    folder = folder or paths.data_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "shop.sqlite3"
    old_database = folder / "shop-2024.sqlite3"
    _sample_database(database, seed=1)
    _sample_database(old_database, seed=2)
    secret_key = secrets.token_urlsafe(24)
    cache_password = secrets.token_urlsafe(16)
    env_file = folder / "shop.env"
    env_file.write_text(
        "# The demo shop's config: Changeover writes the attached resources' handles here.\n"
        "APP_NAME=demo-shop\n"
        "DEBUG=false\n"
        f"SECRET_KEY={secret_key}\n",
        encoding="utf-8",
    )
    env_file.chmod(0o600)
    workspace.add_deploy(
        DEPLOY,
        str(env_file),
        app="shop",
        environment="demo",
        restart_cmd="true",
        maintenance_var="MAINTENANCE_MODE",  # so the upgrade's pre-flight passes: writes stop during the copy
    )
    workspace.register_resource(DATABASE, f"sqlite:///{database}")
    workspace.register_resource(OLD_DATABASE, f"sqlite:///{old_database}")
    workspace.register_resource(CACHE, f"redis://:{cache_password}@127.0.0.1:6379/0")
    workspace.attach(OLD_DATABASE, DEPLOY, "DATABASE_URL")
    workspace.attach(DATABASE, DEPLOY, "DATABASE_URL", replace=True)
    workspace.attach(CACHE, DEPLOY, "REDIS_URL")
    # The replaced database's keep-until date is past, so the "time to decide" reminder shows.
    workspace.set_keep_until(OLD_DATABASE, workspace.clock() - timedelta(days=1))
    _register_server(workspace, folder / "servers")
    return Demo(folder, env_file, database, DEPLOY, (secret_key, cache_password))


def _register_server(workspace: Workspace, folder: Path) -> None:
    """Register a SQLite server folder to upgrade into."""
    from .servers import register_server

    folder.mkdir(parents=True, exist_ok=True)
    register_server(workspace, SERVER, str(folder))


def _sample_database(path: Path, seed: int) -> None:
    """A small shop: customers, products and orders (a few hundred rows), made afresh."""
    path.unlink(missing_ok=True)
    rng = random.Random(seed)
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE);
            CREATE TABLE products (id INTEGER PRIMARY KEY, title TEXT NOT NULL, price_cents INTEGER NOT NULL);
            CREATE TABLE orders (
                id INTEGER PRIMARY KEY,
                customer_id INTEGER NOT NULL REFERENCES customers(id),
                product_id INTEGER NOT NULL REFERENCES products(id),
                quantity INTEGER NOT NULL,
                placed_at TEXT NOT NULL
            );
            """
        )
        first = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Linus", "Radia", "Dennis"]
        last = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton", "Perlman"]
        db.executemany(
            "INSERT INTO customers (id, name, email) VALUES (?, ?, ?)",
            [(i, f"{rng.choice(first)} {rng.choice(last)}", f"customer{i}@example.com") for i in range(1, 121)],
        )
        db.executemany(
            "INSERT INTO products (id, title, price_cents) VALUES (?, ?, ?)",
            [(i, f"Product {i}", rng.randrange(199, 9999)) for i in range(1, 41)],
        )
        db.executemany(
            "INSERT INTO orders (customer_id, product_id, quantity, placed_at) VALUES (?, ?, ?, ?)",
            [
                (rng.randrange(1, 121), rng.randrange(1, 41), rng.randrange(1, 5), f"2026-{m:02d}-{d:02d}")
                for m, d in ((rng.randrange(1, 12), rng.randrange(1, 28)) for _ in range(300))
            ],
        )
    db.close()
