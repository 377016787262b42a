"""Inbound integrations: a routing key that sends one provider's events to one service."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from incidents.models import Service, Severity, Urgency
from integrations import routing
from integrations.conditions import TEMPLATE_MAX_LENGTH
from integrations.routing import RuleAction
from opsknight.models import Organization

MAX_HEARTBEAT_MINUTES = 31 * 24 * 60  # a monthly job is the slowest we watch


class IntegrationKind(models.TextChoices):
    PAGERDUTY = "pagerduty", "PagerDuty Events API v2"
    OPSGENIE = "opsgenie", "Opsgenie Alert API"
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
    EVENTS = "events", "OpsKnight Events API"
    # Served by the generic endpoint POST /api/v1/integrations/<kind>/ (sources/registry.py).
    GRAFANA = "grafana", "Grafana Alerting"
    DATADOG = "datadog", "Datadog"
    KEEP = "keep", "Keep"
    GRAFANA_ONCALL = "grafana-oncall", "Grafana OnCall webhook format"
    WEBHOOK = "webhook", "Generic webhook (configurable mapping)"
    CLOUDWATCH = "cloudwatch", "AWS CloudWatch via SNS"
    AZURE = "azure", "Azure Monitor"
    GCP = "gcp", "Google Cloud Monitoring"
    NEWRELIC = "newrelic", "New Relic"
    DYNATRACE = "dynatrace", "Dynatrace"
    APPDYNAMICS = "appdynamics", "AppDynamics"
    SENTRY = "sentry", "Sentry"
    GITHUB = "github", "GitHub"
    GITLAB = "gitlab", "GitLab"
    BITBUCKET = "bitbucket", "Bitbucket"
    VERCEL = "vercel", "Vercel"
    ELASTIC = "elastic", "Elastic / Kibana"
    HONEYCOMB = "honeycomb", "Honeycomb"
    SPLUNK_OBSERVABILITY = "splunk-observability", "Splunk Observability"
    SPLUNK_ONCALL = "splunk-oncall", "Splunk On-Call (VictorOps)"
    NAGIOS = "nagios", "Nagios"
    ICINGA = "icinga", "Icinga 2"
    ZABBIX = "zabbix", "Zabbix"
    UPTIMEROBOT = "uptimerobot", "UptimeRobot"
    PINGDOM = "pingdom", "Pingdom"
    BETTERSTACK = "betterstack", "Better Stack"
    UPTIME_KUMA = "uptime-kuma", "Uptime Kuma"
    EMAIL = "email", "Email (SMTP, SendGrid Inbound Parse, Mailgun routes)"


class Integration(models.Model):
    """The routing key is looked up by its SHA-256 and kept encrypted for display.

    The key has 128 bits of entropy, so its hash cannot be reversed; the encrypted copy lets
    managers (and `manage.py integration_key`) read it back, as PagerDuty shows its keys.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="integrations"
    )
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="integrations")
    kind = models.CharField(max_length=32, choices=IntegrationKind.choices)
    name = models.CharField(max_length=150)
    key_prefix = models.CharField(max_length=8, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_encrypted = models.TextField(editable=False)
    signing_secret_encrypted = models.TextField(blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    rate_limit_per_minute = models.PositiveIntegerField(
        default=120, help_text="Requests per minute before 429; 0 means no limit."
    )
    options = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["organization", "service", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=IntegrationKind.values), name="integration_kind_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class HeartbeatState(models.TextChoices):
    NEVER = "never", "Never pinged"
    UP = "up", "Up"
    DOWN = "down", "Down (an incident is open)"


class Heartbeat(models.Model):
    """A dead man's switch: a job pings its URL every `interval_minutes`; silence pages.

    The ping key is kept only as its SHA-256 (shown once, at creation or rotation): unlike an
    integration key nobody needs to read it back, it lives in the pinging job's crontab.
    `deadline_at` is when silence turns it down: last ping (or creation, or re-enabling) plus
    interval plus grace, stored so the minute-by-minute check is one indexed range scan.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="heartbeats"
    )
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="heartbeats")
    name = models.CharField(max_length=150)
    key_prefix = models.CharField(max_length=8, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    interval_minutes = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(MAX_HEARTBEAT_MINUTES)]
    )
    grace_minutes = models.PositiveIntegerField(
        default=1,
        validators=[MaxValueValidator(MAX_HEARTBEAT_MINUTES)],
        help_text="Extra minutes of silence tolerated after the interval.",
    )
    state = models.CharField(
        max_length=8, choices=HeartbeatState.choices, default=HeartbeatState.NEVER
    )
    enabled = models.BooleanField(default=True)
    last_ping_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(help_text="No ping by then: down.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["organization", "service", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=HeartbeatState.values), name="heartbeat_state_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(interval_minutes__gte=1), name="heartbeat_interval_positive"
            ),
        ]
        indexes = [
            # The periodic check: enabled, not already down, deadline passed.
            models.Index(
                fields=["deadline_at"],
                condition=models.Q(enabled=True) & ~models.Q(state="down"),
                name="heartbeat_watch",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class IntegrationRule(models.Model):
    """One routing or grouping rule of an integration; the format is in `integrations/routing.py`.

    `clean()` checks the whole rule (conditions, regexes, template, the action's one parameter,
    a route target in the integration's organization); evaluation checks it again, as a service
    can move or be deactivated after the rule was saved.
    """

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField(default=0, help_text="Lower runs first.")
    name = models.CharField(max_length=150, blank=True)
    enabled = models.BooleanField(default=True)
    conditions = models.JSONField(
        default=list,
        blank=True,
        help_text='All must match, e.g. [{"field": "labels.team", "operator": "equals", '
        '"value": "db"}]; empty: every event.',
    )
    action = models.CharField(max_length=16, choices=RuleAction.choices)
    target_service = models.ForeignKey(
        Service,
        null=True,
        blank=True,
        on_delete=models.CASCADE,  # a rule routing nowhere goes with its target
        related_name="+",
        help_text="route: an active service of the same organization.",
    )
    urgency = models.CharField(
        max_length=8, choices=Urgency.choices, blank=True, help_text="set_urgency."
    )
    severity = models.CharField(
        max_length=8, choices=Severity.choices, blank=True, help_text="set_severity."
    )
    dedup_key_template = models.CharField(
        max_length=TEMPLATE_MAX_LENGTH,
        blank=True,
        help_text="group: e.g. {labels.alertname}-{labels.cluster}, or jmespath:<expression>.",
    )
    continue_matching = models.BooleanField(
        default=False, help_text="Routing rules: evaluate the next rules too after this one."
    )

    class Meta:
        ordering = ["integration", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=RuleAction.values), name="integration_rule_action"
            ),
            models.CheckConstraint(
                condition=~models.Q(action=RuleAction.ROUTE)
                | models.Q(target_service__isnull=False),
                name="integration_rule_route_target",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.name or self.get_action_display()}"

    def clean(self) -> None:
        if self.integration_id is not None:  # else clean_fields() already says it is missing
            routing.compile_rule(self, self.integration.organization_id)
