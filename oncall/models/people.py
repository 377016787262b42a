"""What people do around a schedule: swap shifts, subscribe to calendars, hear of hand-offs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from oncall.models.schedules import Override, Schedule
from opsknight.models import Organization


class SwapStatus(models.TextChoices):
    OPEN = "open", "Open"
    TAKEN = "taken", "Taken"
    CANCELLED = "cancelled", "Cancelled"


class ShiftSwap(models.Model):
    """A participant offers a window of their shifts; whoever takes it gets an override."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="swaps")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="swaps_offered"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    note = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=16, choices=SwapStatus.choices, default=SwapStatus.OPEN)
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="swaps_taken",
    )
    taken_at = models.DateTimeField(null=True, blank=True)
    override = models.OneToOneField(
        Override, on_delete=models.SET_NULL, null=True, blank=True, related_name="swap"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["schedule", "start"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="swap_span")
        ]

    def __str__(self) -> str:
        return f"{self.requester} offers {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M}"


class CalendarFeed(models.Model):
    """A secret iCal subscription URL: one schedule's shifts, or one person's across schedules.

    Only a SHA-256 of the token is kept; revoking stops the URL at once.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    schedule = models.ForeignKey(
        Schedule, on_delete=models.CASCADE, null=True, blank=True, related_name="feeds"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="calendar_feeds",
    )
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(schedule__isnull=False, user__isnull=True)
                | Q(schedule__isnull=True, user__isnull=False),
                name="calendar_feed_one_subject",
            )
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.schedule or self.user})"


class HandoffKind(models.TextChoices):
    UPCOMING = "upcoming", "Shift starts soon"
    STARTED = "started", "Shift started"


class HandoffNotice(models.Model):
    """The intent to tell someone about their shift; the notifications app delivers these.

    Unique per (user, schedule, kind, shift start), so the periodic job can run any number of
    times, on any number of workers, and each notice exists once.
    """

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="handoffs")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="handoff_notices"
    )
    kind = models.CharField(max_length=16, choices=HandoffKind.choices)
    shift_start = models.DateTimeField()
    shift_end = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "user", "kind", "shift_start"], name="handoff_notice_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(delivered_at__isnull=True),
                name="handoff_notice_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.user} {self.shift_start:%Y-%m-%d %H:%M}"
