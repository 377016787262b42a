"""The incident timeline is append-only in the database. Retention (deleting whole old
incidents) is the one exception, and must say so: SET LOCAL opsknight.purge = 'on'."""

from django.db import migrations

FORWARD = """
CREATE FUNCTION incidents_timeline_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('opsknight.purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER incidents_incidentevent_append_only
    BEFORE UPDATE OR DELETE ON incidents_incidentevent
    FOR EACH ROW EXECUTE FUNCTION incidents_timeline_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS incidents_incidentevent_append_only ON incidents_incidentevent;
DROP FUNCTION IF EXISTS incidents_timeline_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("incidents", "0002_incidents_alerts_timeline")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
