"""Escalation API writes: policies, their steps, and which policy a service uses.

Every write needs ESCALATION_MANAGE (managers and up, keys with escalation:write). The
serializers check shapes and types; the services check everything that needs the database
(people, teams and schedules of this organization, a step with someone to page, a free name)
and write all or nothing. Another organization's policy, step or service is a 404.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from escalation.api.serializers import (
    PolicyWriteSerializer,
    ServicePolicySerializer,
    StepSerializer,
    StepWriteSerializer,
    step_changes,
    step_input,
)
from escalation.api.views import (
    policy_body,
    policy_or_404,
    service_or_404,
    service_policy_body,
)
from escalation.models import EscalationStep
from escalation.selectors import policy_steps, step_targets
from escalation.services import (
    Who,
    policy_create,
    policy_delete,
    policy_update,
    service_policy_set,
    step_add,
    step_delete,
    step_update,
)
from oncall.api.views import request_actor, request_actor_label, request_person
from opsknight.api.views import organization_for_request
from opsknight.models import Organization
from opsknight.permissions import Action, require


class PolicyInUse(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "in_use"
    default_detail = "Services still use this policy."


def _who(request: Request) -> Who:
    """Who to audit: the person, or (for a key) the key's label."""
    return Who(user=request_person(request), label=request_actor_label(request))


def _managed(request: Request, org_slug: str) -> Organization:
    organization = organization_for_request(request, org_slug)
    require(request_actor(request), organization, Action.ESCALATION_MANAGE)
    return organization


def _step_body(step_id: int) -> dict[str, Any]:
    step = EscalationStep.objects.get(pk=step_id)
    return StepSerializer(step, context={"targets": step_targets([step.pk])}).data


# --- policies ---------------------------------------------------------------------------------


@api_view(["POST"])
def create_policy(request: Request, org_slug: str) -> Response:
    """Body: name, and optionally description, repeat_count (0-9), repeat_after_minutes and
    steps (a list of steps, in order). Answers with the policy as a read shows it."""
    organization = _managed(request, org_slug)
    given = PolicyWriteSerializer(data=request.data)
    given.is_valid(raise_exception=True)
    fields = dict(given.validated_data)
    policy = policy_create(
        organization=organization, steps=fields.pop("steps"), who=_who(request), **fields
    )
    return Response(policy_body(organization, policy.pk), status=status.HTTP_201_CREATED)


@api_view(["PATCH", "DELETE"])
def change_policy(request: Request, org_slug: str, policy_id: int) -> Response:
    """PATCH any create field; `steps`, when given, replaces every step. DELETE refuses (409)
    while a service uses the policy. Incidents in flight keep the policy they triggered with."""
    organization = _managed(request, org_slug)
    policy = policy_or_404(organization, policy_id)
    if request.method == "DELETE":
        try:
            policy_delete(policy=policy, who=_who(request))
        except DjangoValidationError as exc:
            raise PolicyInUse(" ".join(exc.message_dict.get("policy", exc.messages))) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)
    given = PolicyWriteSerializer(data=request.data, partial=True)
    given.is_valid(raise_exception=True)
    changes = dict(given.validated_data)
    steps = changes.pop("steps", None)
    policy_update(policy=policy, changes=changes, steps=steps, who=_who(request))
    return Response(policy_body(organization, policy.pk))


# --- steps ------------------------------------------------------------------------------------


@api_view(["POST"])
def add_step(request: Request, org_slug: str, policy_id: int) -> Response:
    """Body: a step; `position` (0-based, default last) puts it there, moving later ones down."""
    organization = _managed(request, org_slug)
    policy = policy_or_404(organization, policy_id)
    given = StepWriteSerializer(data=request.data)
    given.is_valid(raise_exception=True)
    position = given.validated_data.get("position")
    step = step_add(
        policy=policy, step=step_input(given.validated_data), position=position, who=_who(request)
    )
    return Response(_step_body(step.pk), status=status.HTTP_201_CREATED)


@api_view(["PATCH", "DELETE"])
def change_step(request: Request, org_slug: str, policy_id: int, step_id: int) -> Response:
    """PATCH any step field; users, teams, schedules and channels, when given, replace the old.

    A step keeps its place: to reorder steps, PATCH the policy with its steps in a new order.
    """
    organization = _managed(request, org_slug)
    policy = policy_or_404(organization, policy_id)
    step = get_object_or_404(policy_steps(policy=policy), pk=step_id)
    if request.method == "DELETE":
        step_delete(step=step, who=_who(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
    given = StepWriteSerializer(data=request.data, partial=True)
    given.is_valid(raise_exception=True)
    if given.validated_data.get("position", step.position) != step.position:
        raise ValidationError(
            {
                "position": [
                    "A step keeps its place here: to reorder, PATCH the policy with its steps "
                    "in the new order."
                ]
            }
        )
    step_update(step=step, changes=step_changes(given.validated_data), who=_who(request))
    return Response(_step_body(step.pk))


# --- services ---------------------------------------------------------------------------------


@api_view(["PUT"])
def set_service_policy(request: Request, org_slug: str, service_id: int) -> Response:
    """Body: {"policy": id or null, "sla_warning_minutes": n (optional: unchanged)}. New
    incidents of the service escalate with it; open ones keep the policy they started with."""
    organization = _managed(request, org_slug)
    service = service_or_404(organization, service_id)
    given = ServicePolicySerializer(data=request.data, context={"organization": organization})
    given.is_valid(raise_exception=True)
    service_policy_set(
        service=service,
        policy=given.validated_data["policy"],
        sla_warning_minutes=given.validated_data.get("sla_warning_minutes"),
        who=_who(request),
    )
    return Response(service_policy_body(service))
