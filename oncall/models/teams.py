"""Teams: who belongs together and who leads them."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from opsknight.models import Membership, Organization


class Team(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=150)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="TeamMembership", related_name="teams"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="team_name_unique")
        ]
        ordering = ["organization", "name"]

    def __str__(self) -> str:
        return self.name


class TeamRole(models.TextChoices):
    LEAD = "lead", "Lead"
    MEMBER = "member", "Member"


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    role = models.CharField(max_length=16, choices=TeamRole.choices, default=TeamRole.MEMBER)
    receives_team_notifications = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="team_membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    def clean(self) -> None:
        # A team may only hold people of its own organization: a team is who gets paged.
        if (
            self.team_id
            and self.user_id
            and not Membership.objects.filter(
                user_id=self.user_id, organization_id=self.team.organization_id
            ).exists()
        ):
            raise ValidationError(
                {"user": "This person is not a member of the team's organization."}
            )
