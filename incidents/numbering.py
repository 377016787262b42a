"""Per-organization incident numbers from one PostgreSQL sequence per organization.

A counter row per organization would put a row lock on every new incident's path and hold it
until commit: a convoy under load (PERFORMANCE.md). Sequences take no lock; the price is that
a rolled-back trigger skips a number, which is fine for a reference people quote.
"""

from __future__ import annotations

from django.db import connection, transaction

_known_sequences: set[int] = set()


def _sequence_name(organization_id: int) -> str:
    return f"incident_number_org_{int(organization_id)}"


def next_incident_number(organization_id: int) -> int:
    name = _sequence_name(organization_id)
    with connection.cursor() as cursor:
        if organization_id not in _known_sequences:
            # Serialize creators of the same sequence; IF NOT EXISTS alone races.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])
            cursor.execute(f"CREATE SEQUENCE IF NOT EXISTS {name}")
            # Known only once committed: a rolled-back creation leaves no sequence.
            transaction.on_commit(lambda: _known_sequences.add(organization_id))
        cursor.execute("SELECT nextval(%s)", [name])
        return int(cursor.fetchone()[0])
