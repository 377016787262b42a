"""What every benchmark starts with: its own database, and Django set up against it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def database_url(name: str) -> str:
    """BENCH_DATABASE_URL, or database `name` on the embedded server (started if need be)."""
    if url := os.environ.get("BENCH_DATABASE_URL"):
        return url
    from opsknight.embedded_db import ensure_running

    db = ensure_running(ROOT / ".data" / "postgres", name=name)
    return f"postgres://{db.user}@/{db.name}?host={db.socket_dir}&port={db.port}"


def setup_django(name: str) -> None:
    """Point Django at the benchmark's database (children inherit it) and migrate it."""
    os.environ["DATABASE_URL"] = database_url(name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsknight.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
