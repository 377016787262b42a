"""Re-encrypt every stored secret with the newest of ENCRYPTION_KEYS.

Rotation: put the new key first in ENCRYPTION_KEYS (keep the old ones after it), restart, run
this, then drop the old keys. Each table is rewritten in batches, each row under a lock, so
it is safe while the product runs. A secret no key can open is reported and left as it is;
the command then exits non-zero.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from opsknight.crypto import DecryptionError, encrypted_fields, rotate

BATCH = 200


class Command(BaseCommand):
    help = "Re-encrypt stored secrets with the newest ENCRYPTION_KEYS key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count and check the secrets; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        failures = 0
        for model, fields in encrypted_fields():
            done, bad = self._table(model, fields, dry_run=options["dry_run"])
            failures += bad
            label = model._meta.label
            verb = "would re-encrypt" if options["dry_run"] else "re-encrypted"
            self.stdout.write(f"{label}: {verb} {done} secret(s); {bad} unreadable")
        if failures:
            raise CommandError(f"{failures} secret(s) could not be decrypted with any key")

    def _table(self, model, fields: list[str], *, dry_run: bool) -> tuple[int, int]:
        done = bad = 0
        last = None
        while True:
            with transaction.atomic():
                rows = model.objects.select_for_update().order_by("pk")
                if last is not None:
                    rows = rows.filter(pk__gt=last)
                batch = list(rows[:BATCH])
                for row in batch:
                    changed = []
                    for name in fields:
                        token = getattr(row, name)
                        if not token:
                            continue
                        try:
                            setattr(row, name, rotate(token))
                        except DecryptionError:
                            bad += 1
                            self.stderr.write(f"{model._meta.label} {row.pk}: {name} unreadable")
                            continue
                        changed.append(name)
                        done += 1
                    if changed and not dry_run:
                        row.save(update_fields=changed)
            if len(batch) < BATCH:
                return done, bad
            last = batch[-1].pk
