"""The database cache table (settings.CACHES): shared rate-limit counters for every process."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute("DROP TABLE IF EXISTS opsknight_cache")


class Migration(migrations.Migration):
    dependencies = [("opsknight", "0002_audit_append_only")]

    operations = [migrations.RunPython(create_cache_table, drop_cache_table)]
