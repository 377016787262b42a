"""Incident data: services now; incidents, alerts and the timeline come with the incidents issue."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from opsknight.models import Organization


class Service(models.Model):
    """Something that can break and that someone owns: alerts are routed to a service."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="services"
    )
    name = models.CharField(max_length=150)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="service_name_unique")
        ]
        ordering = ["organization", "name"]

    def __str__(self) -> str:
        return self.name
