"""Incident data: services, incidents, the alerts that feed them, the timeline, notes.

Invariants live here as constraints; the lifecycle (who may move an incident where) lives in
services.py. The timeline is append-only in the database.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsknight.models import Organization

DEDUP_KEY_MAX_LENGTH = 255


class Urgency(models.TextChoices):
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


class Priority(models.TextChoices):
    P1 = "P1", "P1"
    P2 = "P2", "P2"
    P3 = "P3", "P3"
    P4 = "P4", "P4"
    P5 = "P5", "P5"


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    ERROR = "error", "Error"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


class Status(models.TextChoices):
    TRIGGERED = "triggered", "Triggered"  # OPEN in the OpsKnight seed
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    SNOOZED = "snoozed", "Snoozed"
    SUPPRESSED = "suppressed", "Suppressed"  # arrived during maintenance: pages nobody
    RESOLVED = "resolved", "Resolved"


OPEN_STATUSES = (Status.TRIGGERED, Status.ACKNOWLEDGED, Status.SNOOZED, Status.SUPPRESSED)


class Service(models.Model):
    """Something that can break and that someone owns: alerts are routed to a service."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="services"
    )
    name = models.CharField(max_length=150)
    description = models.TextField(blank=True)
    default_urgency = models.CharField(
        max_length=8,
        choices=Urgency.choices,
        blank=True,
        help_text="Urgency of every new incident; blank: derived from the alert's severity.",
    )
    ack_target_minutes = models.PositiveIntegerField(default=15, help_text="SLA: acknowledge in")
    resolve_target_minutes = models.PositiveIntegerField(default=120, help_text="SLA: resolve in")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="service_name_unique")
        ]
        ordering = ["organization", "name"]

    def __str__(self) -> str:
        return self.name


class IncidentQuerySet(models.QuerySet["Incident"]):
    def open(self) -> IncidentQuerySet:
        return self.exclude(status=Status.RESOLVED)


class Incident(models.Model):
    # FK indexes that a composite index already covers are left out: every index is written on
    # every new incident, the hottest insert we have.
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="incidents", db_index=False
    )
    number = models.PositiveBigIntegerField(help_text="Per organization; increasing, may skip.")
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, related_name="incidents", db_index=False
    )
    title = models.CharField(max_length=1024)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRIGGERED)
    urgency = models.CharField(max_length=8, choices=Urgency.choices, default=Urgency.HIGH)
    priority = models.CharField(max_length=2, choices=Priority.choices, blank=True)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.CRITICAL)
    dedup_key = models.CharField(max_length=DEDUP_KEY_MAX_LENGTH)
    source = models.CharField(max_length=255, blank=True)
    assignees = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="assigned_incidents"
    )
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    snoozed_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        constraints = [
            # At most one open incident per (service, dedup key): the dedup guarantee.
            models.UniqueConstraint(
                fields=["service", "dedup_key"],
                condition=~Q(status="resolved"),
                name="incident_open_dedup_unique",
            ),
            models.UniqueConstraint(
                fields=["organization", "number"], name="incident_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=Status.values), name="incident_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(urgency__in=Urgency.values), name="incident_urgency_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="snoozed") | Q(snoozed_until__isnull=False),
                name="incident_snoozed_has_until",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "-created_at"]),
            models.Index(fields=["service", "-created_at"]),
            # A resolve with nothing open asks "was this key just resolved?" (ingestion.py).
            # Partial: only resolving writes to it, never the trigger hot path.
            models.Index(
                fields=["service", "dedup_key", "-resolved_at"],
                condition=Q(status="resolved"),
                name="incident_resolved_by_key",
            ),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status != Status.RESOLVED


class AlertAction(models.TextChoices):
    TRIGGER = "trigger", "Trigger"
    ACKNOWLEDGE = "acknowledge", "Acknowledge"
    RESOLVE = "resolve", "Resolve"
    CHANGE = "change", "Change"  # PagerDuty change events: recorded, never page


class Alert(models.Model):
    """One event as received, raw payload kept. Many alerts make one incident.

    `integration_id` is not a foreign key: integrations sit above incidents (DESIGN.md §2).
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, related_name="alerts", db_index=False
    )
    incident = models.ForeignKey(
        Incident,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alerts",
        db_index=False,
    )
    request_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    integration_id = models.BigIntegerField(null=True, blank=True)
    integration_kind = models.CharField(max_length=40, blank=True)
    action = models.CharField(max_length=12, choices=AlertAction.choices)
    outcome = models.CharField(max_length=16, help_text="triggered, deduplicated, resolved, …")
    dedup_key = models.CharField(max_length=DEDUP_KEY_MAX_LENGTH, blank=True)
    summary = models.CharField(max_length=1024, blank=True)
    severity = models.CharField(max_length=8, choices=Severity.choices, blank=True)
    source = models.CharField(max_length=255, blank=True)
    details = models.JSONField(default=dict, blank=True)
    links = models.JSONField(default=list, blank=True)
    images = models.JSONField(default=list, blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="The body as received.")
    occurred_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["incident", "received_at"]),
            models.Index(fields=["service", "-received_at"], name="alert_service_recent"),
            # Out-of-order resolves: "was this key resolved in the last few minutes?"
            models.Index(
                fields=["service", "dedup_key", "received_at"],
                condition=Q(incident__isnull=True),
                name="alert_unlinked_by_key",
            ),
        ]
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.action} {self.dedup_key}"


class EventKind(models.TextChoices):
    TRIGGERED = "triggered", "Triggered"
    ALERT_ADDED = "alert_added", "Alert added"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    UNACKNOWLEDGED = "unacknowledged", "Unacknowledged"
    SNOOZED = "snoozed", "Snoozed"
    UNSNOOZED = "unsnoozed", "Unsnoozed"
    RESOLVED = "resolved", "Resolved"
    REOPENED = "reopened", "Reopened"
    REASSIGNED = "reassigned", "Reassigned"
    URGENCY_CHANGED = "urgency_changed", "Urgency changed"
    PRIORITY_CHANGED = "priority_changed", "Priority changed"
    NOTE = "note", "Note"
    ESCALATED = "escalated", "Escalated"
    ESCALATION_NOTE = "escalation_note", "Escalation note"
    SLA_WARNING = "sla_warning", "SLA warning"
    SLA_BREACHED = "sla_breached", "SLA breached"
    NOTIFIED = "notified", "Notified"
    SUPPRESSED = "suppressed", "Suppressed"


class IncidentEvent(models.Model):
    """The incident's timeline. Append-only: the database refuses UPDATE and DELETE."""

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_label = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["incident", "created_at"])]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.message}"


class Note(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(max_length=20_000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.body[:60]


class MaintenanceWindow(models.Model):
    """A time when a service (or, without one, the whole organization) pages nobody.

    Triggers during a window open SUPPRESSED incidents (incidents/maintenance.py decides).
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="maintenance_windows", db_index=False
    )
    service = models.ForeignKey(
        Service,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="maintenance_windows",
        help_text="Blank: every service of the organization.",
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=models.F("start")), name="maintenance_end_after_start"
            )
        ]
        indexes = [
            # "Active at T" is end > T AND start <= T: ended windows (most of them) fall
            # outside the range scan on end.
            models.Index(fields=["organization", "end"], name="maintenance_active_at"),
        ]
        ordering = ["-start"]

    def __str__(self) -> str:
        scope = self.service.name if self.service_id else "all services"
        return f"Maintenance of {scope} {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.start and self.end and self.end <= self.start:
            errors["end"] = "The window must end after it starts."
        if (
            self.service_id
            and self.organization_id
            and self.service.organization_id != self.organization_id
        ):
            errors["service"] = "This service belongs to another organization."
        if errors:
            raise ValidationError(errors)

    def is_active(self, at: datetime) -> bool:
        return self.start <= at < self.end
