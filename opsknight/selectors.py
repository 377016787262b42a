"""Reads of core data. Every tenant-scoped query goes through a selector that takes the tenant."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from opsknight.models import APIKey, AuditEvent, Membership, Organization, Role, User


def membership_role(*, user: User, organization_id: int) -> Role | None:
    """The user's role there; None if not a member or the organization is deactivated."""
    role = (
        Membership.objects.filter(
            user=user, organization_id=organization_id, organization__is_active=True
        )
        .values_list("role", flat=True)
        .first()
    )
    return Role(role) if role else None


def is_only_owner(*, membership: Membership) -> bool:
    """Is this the organization's last owner? (Removing or demoting it is refused.)"""
    return (
        membership.role == Role.OWNER
        and not Membership.objects.filter(
            organization_id=membership.organization_id, role=Role.OWNER
        )
        .exclude(pk=membership.pk)
        .exists()
    )


def user_organizations(*, user: User) -> QuerySet[Organization]:
    return Organization.objects.filter(memberships__user=user, is_active=True).order_by("name")


def user_organization_ids(*, user: User) -> list[int]:
    return list(
        Membership.objects.filter(user=user, organization__is_active=True).values_list(
            "organization_id", flat=True
        )
    )


def organization_members(*, organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=organization).select_related("user")


def visible_organizations(*, user: User | None, api_key: APIKey | None) -> QuerySet[Organization]:
    """Organizations a caller may see: a key's own, a superuser's all, a member's theirs."""
    if api_key is not None:
        return Organization.objects.filter(pk=api_key.organization_id)
    if user is not None and user.is_superuser:
        return Organization.objects.all()
    if user is None or not user.is_authenticated:
        return Organization.objects.none()
    return user_organizations(user=user)


def organization_api_keys(*, organization: Organization) -> QuerySet[APIKey]:
    return APIKey.objects.filter(organization=organization)


def organization_audit_events(*, organization: Organization) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(organization=organization).select_related("actor")


def live_worker_count() -> int:
    """Procrastinate workers whose heartbeat is recent enough to count as alive."""
    cutoff = timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat >= %s", [cutoff]
        )
        return int(cursor.fetchone()[0])


def job_counts() -> list[tuple[str, str, int]]:
    """(queue, status, count) for the job queue, for metrics and the operator's overview."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs "
            "WHERE status IN ('todo', 'doing', 'failed') GROUP BY 1, 2 ORDER BY 1, 2"
        )
        return [(q, s, int(n)) for q, s, n in cursor.fetchall()]


def oldest_due_job_age_seconds() -> float:
    """How long the oldest runnable job has been waiting: the queue's lateness right now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(extract(epoch FROM now() - min(coalesce(scheduled_at, "
            "(SELECT min(at) FROM procrastinate_events e WHERE e.job_id = j.id)))), 0) "
            "FROM procrastinate_jobs j WHERE status = 'todo' "
            "AND (scheduled_at IS NULL OR scheduled_at <= now())"
        )
        return float(cursor.fetchone()[0] or 0)


def live_job_args(task_name: str, key: str, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The arguments of `task_name` jobs still queued or running whose `key` argument is one
    of `ids`: how a repair asks "does this row still have a job?" before queueing another."""
    if not ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT args FROM procrastinate_jobs WHERE task_name = %s "
            "AND status IN ('todo', 'doing') AND (args->>%s)::bigint = ANY(%s)",
            [task_name, key, list(ids)],
        )
        return [json.loads(a) if isinstance(a, str) else a for (a,) in cursor.fetchall()]
