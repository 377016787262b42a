"""Per-incident escalation state, SLA clocks, and what the auditor repaired.

The generation counter is the heart of it: every lifecycle change bumps it, and a step job
carries the generation it was deferred under. A job whose generation is stale does nothing,
so cancelling pending steps needs no job to be found or deleted.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from escalation.models.policies import EscalationPolicy
from incidents.models import Incident


class EscalationStatus(models.TextChoices):
    ESCALATING = "escalating", "Escalating"  # a step is pending
    ACKNOWLEDGED = "acknowledged", "Stopped: acknowledged"
    SNOOZED = "snoozed", "Paused: snoozed"
    RESOLVED = "resolved", "Stopped: resolved"
    EXHAUSTED = "exhausted", "Finished: every step ran, nobody acknowledged"
    NO_POLICY = "no_policy", "Not escalating: no policy"


class EscalationState(models.Model):
    incident = models.OneToOneField(
        Incident, on_delete=models.CASCADE, primary_key=True, related_name="escalation_state"
    )
    policy = models.ForeignKey(
        EscalationPolicy, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    snapshot = models.JSONField(help_text="The policy as it was when the incident triggered.")
    status = models.CharField(max_length=16, choices=EscalationStatus.choices)
    generation = models.PositiveIntegerField(default=1)
    cursor = models.PositiveIntegerField(
        default=0, help_text="Index of the next page in the plan (escalation.plan)."
    )
    due_at = models.DateTimeField(null=True, blank=True, help_text="When the next page is due.")
    last_tick = models.IntegerField(null=True, blank=True, help_text="Last page that ran.")
    last_run_at = models.DateTimeField(null=True, blank=True)
    manual_pending = models.BooleanField(
        default=False, help_text="A person asked to escalate; honoured even if acknowledged."
    )
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=EscalationStatus.values), name="escalation_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="escalating") | Q(due_at__isnull=False),
                name="escalation_escalating_has_due",
            ),
        ]
        indexes = [
            # The auditor's question: which pending pages are overdue?
            models.Index(
                fields=["due_at"], condition=Q(status="escalating"), name="escalation_due"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.incident_id} {self.status} gen {self.generation} at {self.cursor}"


class SlaClock(models.Model):
    """The acknowledge and resolve clocks of one incident. Time snoozed does not count."""

    incident = models.OneToOneField(
        Incident, on_delete=models.CASCADE, primary_key=True, related_name="sla_clock"
    )
    started_at = models.DateTimeField()
    ack_minutes = models.PositiveIntegerField()
    resolve_minutes = models.PositiveIntegerField()
    warning_minutes = models.PositiveIntegerField()
    paused_seconds = models.FloatField(default=0, help_text="Time spent snoozed so far.")
    paused_since = models.DateTimeField(null=True, blank=True)
    acknowledged = models.BooleanField(default=False)
    stopped = models.BooleanField(default=False, help_text="Resolved: nothing more to check.")
    ack_warned_at = models.DateTimeField(null=True, blank=True)
    ack_breached_at = models.DateTimeField(null=True, blank=True)
    resolve_warned_at = models.DateTimeField(null=True, blank=True)
    resolve_breached_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(
        null=True, blank=True, help_text="Earliest pending warning or breach; empty: none."
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["next_check_at"],
                condition=Q(next_check_at__isnull=False),
                name="sla_clock_next_check",
            )
        ]

    def __str__(self) -> str:
        return f"SLA of #{self.incident_id}"


class AuditFinding(models.Model):
    """Something the escalation auditor found wrong, and whether it fixed it."""

    class Kind(models.TextChoices):
        OVERDUE_STEP = "overdue_step", "Step overdue"
        UNDELIVERED = "undelivered", "Notification request never delivered"
        OVERDUE_DELIVERY = "overdue_delivery", "Delivery overdue, job lost"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    key = models.CharField(max_length=100, help_text="What was found, so it is recorded once.")
    detail = models.TextField(blank=True)
    repaired = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "key"], name="audit_finding_once"),
        ]
        indexes = [models.Index(fields=["kind", "created_at"])]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.incident_id}"
