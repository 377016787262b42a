"""Reads of incident data. Tenant scoping lives here: views never filter by organization."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import Case, Count, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.http import Http404

from incidents.models import OPEN_STATUSES, Alert, Incident, IncidentEvent, Service, Status
from opsknight.models import Organization, User
from opsknight.selectors import user_organizations

OPEN = "open"  # a status filter meaning "any open status"


def _alert_count_subquery() -> Coalesce:
    # A correlated subquery rather than Count over a join: PostgreSQL evaluates it only for
    # the rows of the page it returns, not for every alert of every incident in the tenant.
    counts = (
        Alert.objects.filter(incident=OuterRef("pk"))
        .order_by()
        .values("incident")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def incidents_for_user(
    user: User | AnonymousUser,
    *,
    status: str | None = None,
    organization: Organization | int | None = None,
) -> QuerySet[Incident]:
    """Incidents the user may see: their active organizations' (all for superusers).

    Open first, newest first; each row carries `alert_count`. `status` is a Status value or
    "open"; `organization` narrows to one tenant (never widens past the user's).
    """
    if not user.is_authenticated or not user.is_active:
        return Incident.objects.none()
    incidents = Incident.objects.all()
    if not user.is_superuser:
        incidents = incidents.filter(organization__in=user_organizations(user=user))
    if organization is not None:
        org_id = organization if isinstance(organization, int) else organization.pk
        incidents = incidents.filter(organization_id=org_id)
    if status == OPEN:
        incidents = incidents.filter(status__in=OPEN_STATUSES)
    elif status:
        incidents = incidents.filter(status=status)
    return (
        incidents.select_related("service", "organization")
        .annotate(
            alert_count=_alert_count_subquery(),
            is_resolved=Case(
                When(status=Status.RESOLVED, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            ),
        )
        .order_by("is_resolved", "-created_at", "-pk")
    )


def incident_for_user(user: User | AnonymousUser, incident_id: int) -> Incident:
    """One incident the user may see. Http404 otherwise: another tenant's incident, like a
    missing one, is simply not there (never 403, which would reveal that it exists)."""
    incident = (
        incidents_for_user(user)
        .select_related("acknowledged_by", "resolved_by")
        .filter(pk=incident_id)
        .first()
    )
    if incident is None:
        raise Http404("No such incident.")
    return incident


def incident_timeline(incident: Incident) -> QuerySet[IncidentEvent]:
    """The incident's timeline, oldest first."""
    return (
        IncidentEvent.objects.filter(incident=incident)
        .select_related("actor")
        .order_by("created_at", "pk")
    )


def incident_alerts(incident: Incident, limit: int = 50) -> QuerySet[Alert]:
    """The incident's latest `limit` alerts, newest first (raw payload included)."""
    return Alert.objects.filter(incident=incident).order_by("-received_at", "-pk")[:limit]


def alert_count(incident: Incident) -> int:
    """How many alerts the incident has: a COUNT query, there is no stored counter."""
    return Alert.objects.filter(incident=incident).count()


def open_incident_counts(organization: Organization | int) -> dict[str, int]:
    """Open incidents of the organization per open status, zeros included, in one query."""
    org_id = organization if isinstance(organization, int) else organization.pk
    rows = (
        Incident.objects.filter(organization_id=org_id, status__in=OPEN_STATUSES)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    counts = {str(status): 0 for status in OPEN_STATUSES}
    counts.update(dict(rows))
    return counts


def active_service(*, organization_id: int, service_id: object) -> Service | None:
    """The organization's active service with this id, or None (also for another tenant's)."""
    if not isinstance(service_id, int) or isinstance(service_id, bool):
        return None
    return Service.objects.filter(
        pk=service_id, organization_id=organization_id, is_active=True
    ).first()
