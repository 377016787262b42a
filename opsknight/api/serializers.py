from __future__ import annotations

from rest_framework import serializers

from opsknight.models import APIKey
from opsknight.permissions import SCOPE_CHOICES


class StrictSerializer(serializers.Serializer):
    """Rejects unknown fields by name instead of silently ignoring them."""

    def to_internal_value(self, data):  # type: ignore[no-untyped-def]
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class APIKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = APIKey
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
        ]
        read_only_fields = fields


class APIKeyCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=SCOPE_CHOICES), min_length=1, max_length=20
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
