"""Per-integration rate-limit counters: UNLOGGED (no WAL: a crash forgets a minute of counts,
which is harmless) and sharded so that concurrent requests rarely touch the same row."""

from django.db import migrations

FORWARD = """
CREATE UNLOGGED TABLE integrations_rate_window (
    integration_id bigint NOT NULL,
    window_start timestamptz NOT NULL,
    shard smallint NOT NULL,
    hits integer NOT NULL,
    PRIMARY KEY (integration_id, window_start, shard)
);
"""


class Migration(migrations.Migration):
    dependencies = [("integrations", "0001_integrations")]

    operations = [
        migrations.RunSQL(FORWARD, "DROP TABLE IF EXISTS integrations_rate_window;"),
    ]
