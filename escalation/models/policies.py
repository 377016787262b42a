"""Escalation policies as people configure them: ordered steps and whom each step pages.

An incident never reads these live: at trigger time the policy is frozen into a snapshot
(`escalation.snapshots`), so editing a policy changes no incident in flight.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from incidents.models import Service, Urgency
from notifications.models import Channel
from oncall.models import Schedule, Team
from opsknight.models import Organization

MAX_REPEATS = 9
MAX_DELAY_MINUTES = 24 * 60
MAX_STEPS = 20
MAX_TARGETS_PER_STEP = 50


class EscalationPolicy(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="escalation_policies"
    )
    name = models.CharField(max_length=150)
    description = models.TextField(blank=True)
    repeat_count = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_REPEATS)],
        help_text="How many more times the whole policy runs when nobody acknowledges (0 to 9).",
    )
    repeat_after_minutes = models.PositiveIntegerField(
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_DELAY_MINUTES)],
        help_text="Wait after the last step before the policy starts over.",
    )
    # The policy as an incident freezes it, kept current by every write in
    # escalation.services: a trigger copies it in the query that reads the incident, instead
    # of reading the policy, its steps and three target tables on the ingestion hot path.
    snapshot = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "escalation policies"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="escalation_policy_name_unique"
            ),
            models.CheckConstraint(
                condition=Q(repeat_count__lte=MAX_REPEATS), name="escalation_policy_repeats_max"
            ),
            models.CheckConstraint(
                condition=Q(repeat_after_minutes__gte=1), name="escalation_policy_repeat_after_min"
            ),
        ]
        ordering = ["organization", "name"]

    def __str__(self) -> str:
        return self.name


class EscalationStep(models.Model):
    """One level. Its targets are any mix of people, teams and schedules; a round-robin step
    pages them one at a time (users, then teams, then schedules, each in the order added)."""

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=0, help_text="Order within the policy.")
    delay_minutes = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_DELAY_MINUTES)],
        help_text="Wait before this step (after the previous one); 0: at once.",
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="escalation_steps"
    )
    teams = models.ManyToManyField(Team, blank=True, related_name="escalation_steps")
    team_lead_only = models.BooleanField(
        default=False, help_text="Page only the lead of each team, not every member."
    )
    schedules = models.ManyToManyField(Schedule, blank=True, related_name="escalation_steps")
    channels = ArrayField(
        models.CharField(max_length=16, choices=Channel.choices),
        default=list,
        blank=True,
        help_text="Only these channels for this step; empty: each person's own rules.",
    )
    high_urgency_only = models.BooleanField(
        default=False, help_text="Skip this step for incidents that are not high urgency."
    )
    round_robin = models.BooleanField(
        default=False, help_text="Page one target at a time instead of all at once."
    )
    round_robin_minutes = models.PositiveIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_DELAY_MINUTES)],
        help_text="Round robin: wait this long before paging the next target.",
    )

    class Meta:
        ordering = ["policy", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(delay_minutes__lte=MAX_DELAY_MINUTES), name="escalation_step_delay_max"
            ),
            models.CheckConstraint(
                condition=Q(round_robin_minutes__gte=1), name="escalation_step_round_robin_min"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} step {self.position}"

    def clean(self) -> None:
        unknown = set(self.channels or ()) - set(Channel.values)
        if unknown:
            raise ValidationError({"channels": f"Unknown channels: {sorted(unknown)}."})


class ServiceEscalation(models.Model):
    """A service's escalation policy and SLA warning lead time.

    Lives here, not on Service: incidents sits below escalation and may not know policies.
    """

    service = models.OneToOneField(
        Service, on_delete=models.CASCADE, primary_key=True, related_name="escalation"
    )
    policy = models.ForeignKey(
        EscalationPolicy,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="service_links",
        help_text="Blank: incidents of this service page nobody (they still show up).",
    )
    sla_warning_minutes = models.PositiveIntegerField(
        default=5,
        validators=[MaxValueValidator(MAX_DELAY_MINUTES)],
        help_text="Warn this many minutes before an SLA target is missed.",
    )

    class Meta:
        verbose_name = "service escalation and SLA"
        verbose_name_plural = "service escalation and SLA"

    def __str__(self) -> str:
        return f"{self.service}: {self.policy or 'no policy'}"

    def clean(self) -> None:
        if (
            self.policy_id
            and self.service_id
            and self.policy.organization_id != self.service.organization_id
        ):
            raise ValidationError({"policy": "This policy belongs to another organization."})


class SlaTarget(models.Model):
    """Per-urgency SLA targets that override the service's own."""

    service_escalation = models.ForeignKey(
        ServiceEscalation, on_delete=models.CASCADE, related_name="sla_targets"
    )
    urgency = models.CharField(max_length=8, choices=Urgency.choices)
    ack_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1)], help_text="Acknowledge within"
    )
    resolve_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1)], help_text="Resolve within"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service_escalation", "urgency"], name="sla_target_per_urgency"
            ),
            models.CheckConstraint(
                condition=Q(ack_minutes__gte=1) & Q(resolve_minutes__gte=1),
                name="sla_target_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.urgency}: ack {self.ack_minutes} min, resolve {self.resolve_minutes} min"
