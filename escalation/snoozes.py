"""Timed snoozes end by a job scheduled for their end, deferred when the snooze began."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from incidents.models import Incident, Status
from incidents.services import unsnooze
from opsknight.actors import Actor


@transaction.atomic
def snooze_expire(*, incident_id: int, until: str) -> bool:
    """End the snooze that was set to end at `until`. Returns whether it ended one.

    A snooze extended or ended by hand since then is not this job's business: the incident's
    snoozed_until no longer matches, and the job does nothing.
    """
    expected = datetime.fromisoformat(until)
    incident = Incident.objects.select_for_update().filter(pk=incident_id).first()
    if incident is None or incident.status != Status.SNOOZED or incident.snoozed_until != expected:
        return False
    unsnooze(incident_id=incident_id, actor=Actor.system("snooze ended"))
    return True
