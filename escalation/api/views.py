"""Escalation API reads: policies, a policy's dry run, a service's policy, an incident's path.

Policies and services need ESCALATION_VIEW; an incident's escalation is part of the incident,
so it needs INCIDENT_VIEW. Another organization's policy, service or incident is a 404, as is
an organization the caller cannot see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from escalation.api.serializers import PolicySerializer, dry_run_body, instant
from escalation.dryrun import dry_run
from escalation.models import EscalationPolicy, EscalationStatus, ServiceEscalation
from escalation.selectors import (
    EscalationPath,
    incident_escalation_path,
    organization_policies,
    policy_levels_at,
    step_targets,
)
from incidents.models import Incident, Service
from incidents.selectors import active_service
from oncall.api.serializers import parse_instant, people
from oncall.api.views import oncall_overview, request_actor
from opsknight.api.views import organization_for_request
from opsknight.models import Organization, User
from opsknight.permissions import Action, require

# --- helpers ----------------------------------------------------------------------------------


def policy_or_404(organization: Organization, policy_id: int) -> EscalationPolicy:
    return get_object_or_404(organization_policies(organization=organization), pk=policy_id)


def policies_body(policies: list[EscalationPolicy]) -> list[dict[str, Any]]:
    """Policies as the API shows them, in a fixed number of queries however many."""
    targets = step_targets(step.pk for policy in policies for step in policy.steps.all())
    return PolicySerializer(policies, many=True, context={"targets": targets}).data


def policy_body(organization: Organization, policy_id: int) -> dict[str, Any]:
    return policies_body([policy_or_404(organization, policy_id)])[0]


def service_or_404(organization: Organization, service_id: int) -> Service:
    """The organization's active service; a deactivated one is a 404, as everywhere else."""
    service = active_service(organization_id=organization.pk, service_id=service_id)
    if service is None:
        raise Http404("No such service.")
    return service


def service_policy_body(service: Service) -> dict[str, Any]:
    link = ServiceEscalation.objects.filter(service=service).select_related("policy").first()
    policy = link.policy if link is not None else None
    return {
        "service": {"id": service.pk, "name": service.name},
        "policy": {"id": policy.pk, "name": policy.name} if policy is not None else None,
        "sla_warning_minutes": (
            link.sla_warning_minutes
            if link is not None
            else ServiceEscalation._meta.get_field("sla_warning_minutes").default
        ),
    }


def _at_param(request: Request) -> datetime:
    raw = request.query_params.get("at")
    if raw is None:
        return timezone.now()
    try:
        return parse_instant(raw)
    except ValueError as exc:
        raise ValidationError({"at": [str(exc)]}) from exc


# --- policies ---------------------------------------------------------------------------------


@api_view(["GET"])
def policies(request: Request, org_slug: str) -> Response:
    organization = organization_for_request(request, org_slug)
    require(request_actor(request), organization, Action.ESCALATION_VIEW)
    found = list(organization_policies(organization=organization))
    return Response(policies_body(found))


@api_view(["GET"])
def policy_detail(request: Request, org_slug: str, policy_id: int) -> Response:
    organization = organization_for_request(request, org_slug)
    require(request_actor(request), organization, Action.ESCALATION_VIEW)
    return Response(policy_body(organization, policy_id))


def _dry_run(request: Request, organization: Organization, policy_id: int) -> Response:
    require(request_actor(request), organization, Action.ESCALATION_VIEW)
    policy = get_object_or_404(organization_policies(organization=organization), pk=policy_id)
    return Response(dry_run_body(dry_run(policy, _at_param(request))))


@api_view(["GET"])
def policy_dry_run(request: Request, org_slug: str, policy_id: int) -> Response:
    """The pages the policy would make for an incident triggering at `at` (ISO 8601 with an
    offset; default now) if nobody acknowledged, with who each would reach at its time."""
    return _dry_run(request, organization_for_request(request, org_slug), policy_id)


@api_view(["GET"])
def dry_run_by_id(request: Request, policy_id: int) -> Response:
    """As `policy_dry_run`, addressed by the policy's id alone."""
    found = EscalationPolicy.objects.filter(pk=policy_id)
    slug = found.values_list("organization__slug", flat=True).first()
    if slug is None:
        raise Http404("No such escalation policy.")
    # The same door as every organization URL: an organization one cannot see is a 404.
    return _dry_run(request, organization_for_request(request, slug), policy_id)


# --- who is on call, by schedule and by escalation level ---------------------------------------


@api_view(["GET"])
def oncall(request: Request, org_slug: str) -> Response:
    """`GET oncall`: the on-call app's body (who is on call in each schedule) plus, for each
    escalation policy, who each level would page at `at`. Routed here rather than in oncall,
    which sits below escalation and may not know policies."""
    organization = organization_for_request(request, org_slug)
    require(request_actor(request), organization, Action.SCHEDULE_VIEW)
    at = _at_param(request)
    body = oncall_overview(organization=organization, at=at)
    policies = policy_levels_at(organization=organization, at=at)
    users = User.objects.in_bulk(
        {uid for _, levels in policies for level in levels for uid in level.user_ids}
    )
    body["escalation_policies"] = [
        {
            "id": policy.pk,
            "name": policy.name,
            "levels": [
                {
                    "level": level.level,
                    "delay_minutes": level.delay_minutes,
                    "users": people(level.user_ids, users),
                }
                for level in levels
            ],
        }
        for policy, levels in policies
    ]
    return Response(body)


# --- services ---------------------------------------------------------------------------------


@api_view(["GET"])
def service_policy(request: Request, org_slug: str, service_id: int) -> Response:
    organization = organization_for_request(request, org_slug)
    require(request_actor(request), organization, Action.ESCALATION_VIEW)
    return Response(service_policy_body(service_or_404(organization, service_id)))


# --- incidents --------------------------------------------------------------------------------


def _history(path: EscalationPath) -> list[dict[str, Any]]:
    return [
        {
            "kind": event.kind,
            "at": instant(event.created_at),
            "level": event.data.get("level"),
            "repeat": event.data.get("loop"),
            "user_ids": list(event.data.get("user_ids", [])),
            "message": event.message,
        }
        for event in path.history
    ]


def _upcoming(path: EscalationPath) -> list[dict[str, Any]]:
    return [
        {
            "index": upcoming.page.index,
            "due_at": instant(upcoming.due_at),
            "level": upcoming.page.level,
            "repeat": upcoming.page.loop,
            "round_robin_turn": upcoming.page.round_robin_turn,
            "targets": [
                {"type": t["type"], "id": t["id"], "name": t.get("name", "")}
                for t in upcoming.page.targets
            ],
        }
        for upcoming in path.upcoming
    ]


@api_view(["GET"])
def incident_escalation(request: Request, org_slug: str, incident_id: int) -> Response:
    """Where the incident's escalation stands: what was paged, and what comes next when."""
    organization = organization_for_request(request, org_slug)
    require(request_actor(request), organization, Action.INCIDENT_VIEW)
    incident = get_object_or_404(Incident.objects.filter(organization=organization), pk=incident_id)
    body: dict[str, Any] = {
        "incident": {"id": incident.pk, "number": incident.number, "status": incident.status}
    }
    path = incident_escalation_path(incident_id=incident.pk)
    if path is None:  # never triggered paging, e.g. suppressed during maintenance
        return Response(
            body
            | {
                "status": None,
                "status_label": "Not escalating: this incident never paged.",
                "generation": None,
                "policy": None,
                "due_at": None,
                "history": [],
                "upcoming": [],
            }
        )
    policy_id = path.snapshot.get("policy_id")
    escalating = path.status == EscalationStatus.ESCALATING and path.upcoming
    return Response(
        body
        | {
            "status": path.status,
            "status_label": path.status_label,
            "generation": path.generation,
            "policy": {"id": policy_id, "name": path.policy_name} if policy_id else None,
            "due_at": instant(path.upcoming[0].due_at) if escalating else None,
            "history": _history(path),
            "upcoming": _upcoming(path),
        }
    )
