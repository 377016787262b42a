"""Core API: who am I, and API key management for organization admins."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from opsknight.api.authentication import APIKeyPrincipal
from opsknight.api.serializers import APIKeyCreateSerializer, APIKeySerializer
from opsknight.models import Organization
from opsknight.permissions import Action, require
from opsknight.selectors import organization_api_keys, visible_organizations
from opsknight.services import api_key_create, api_key_revoke


@api_view(["GET"])
def whoami(request: Request) -> Response:
    if isinstance(request.user, APIKeyPrincipal):
        key = request.user.api_key
        return Response(
            {
                "type": "api_key",
                "name": key.name,
                "prefix": key.prefix,
                "scopes": key.scopes,
                "organization": {"id": key.organization_id, "slug": key.organization.slug},
            }
        )
    memberships = request.user.memberships.select_related("organization")
    return Response(
        {
            "type": "user",
            "id": request.user.pk,
            "email": request.user.email,
            "display_name": request.user.display_name,
            "organizations": [
                {"id": m.organization_id, "slug": m.organization.slug, "role": m.role}
                for m in memberships
                if m.organization.is_active
            ],
        }
    )


def organization_for_request(request: Request, slug: str) -> Organization:
    """The organization named in the URL, as the caller may see it: others' are a 404."""
    if isinstance(request.user, APIKeyPrincipal):
        visible = visible_organizations(user=None, api_key=request.auth)
    else:
        visible = visible_organizations(user=request.user, api_key=None)
    return get_object_or_404(visible, slug=slug)


@api_view(["GET", "POST"])
def api_keys(request: Request, org_slug: str) -> Response:
    organization = organization_for_request(request, org_slug)
    require(request.auth if request.auth else request.user, organization, Action.APIKEY_MANAGE)
    if request.method == "GET":
        keys = organization_api_keys(organization=organization)
        return Response(APIKeySerializer(keys, many=True).data)
    serializer = APIKeyCreateSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    issued = api_key_create(
        organization=organization,
        created_by=request.user if request.user.pk else None,
        **serializer.validated_data,
    )
    body = APIKeySerializer(issued.api_key).data
    body["token"] = issued.token
    return Response(body, status=status.HTTP_201_CREATED)


@api_view(["DELETE"])
def api_key_detail(request: Request, org_slug: str, key_id: int) -> Response:
    organization = organization_for_request(request, org_slug)
    require(request.auth if request.auth else request.user, organization, Action.APIKEY_MANAGE)
    api_key = get_object_or_404(organization_api_keys(organization=organization), pk=key_id)
    api_key_revoke(api_key=api_key, actor=request.user if request.user.pk else None)
    return Response(status=status.HTTP_204_NO_CONTENT)
