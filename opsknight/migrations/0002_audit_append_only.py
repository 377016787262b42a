"""The database itself refuses UPDATE and DELETE on audit events: history cannot be rewritten,
not even by code that bypasses the ORM."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION opsknight_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER opsknight_auditevent_append_only
    BEFORE UPDATE OR DELETE ON opsknight_auditevent
    FOR EACH ROW EXECUTE FUNCTION opsknight_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS opsknight_auditevent_append_only ON opsknight_auditevent;
DROP FUNCTION IF EXISTS opsknight_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("opsknight", "0001_core_models")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
