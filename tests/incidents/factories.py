from __future__ import annotations

from incidents.ingestion import NormalizedEvent, ingest
from incidents.models import AlertAction, Incident, Service
from incidents.services import service_create
from opsknight.models import Organization

_counter = iter(range(1, 10**9))


def make_service(organization: Organization, **fields: object) -> Service:
    return service_create(
        organization=organization, name=fields.pop("name", f"Service {next(_counter)}"), **fields
    )


def trigger(service: Service, key: str | None = None, **fields: object) -> Incident:
    """An open incident, made the way alerts make them."""
    event = NormalizedEvent(
        action=AlertAction.TRIGGER,
        dedup_key=key or f"key-{next(_counter)}",
        summary=str(fields.pop("summary", "Disk full on db-1")),
        **fields,
    )
    result = ingest(service=service, event=event, payload={"test": True})
    assert result.incident is not None
    return Incident.objects.get(pk=result.incident.pk)
