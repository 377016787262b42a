"""Admin for platform operators: organizations, people, roles, API keys, and the audit log."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from opsknight.models import APIKey, AuditEvent, Membership, Organization, Role, User
from opsknight.permissions import SCOPE_CHOICES
from opsknight.selectors import is_only_owner
from opsknight.services import (
    OwnerRequiredError,
    api_key_create,
    api_key_revoke,
    audit_record,
    membership_remove,
    membership_set,
)

# The Django admin is the platform operators' console: superusers only. Organization admins get
# their own scoped pages; a staff flag alone must not reach every tenant's data.
admin.site.has_permission = lambda request: bool(
    request.user.is_active and request.user.is_superuser
)


class MembershipInline(admin.TabularInline):
    """Read-only: role changes go through the Membership admin, which calls the services."""

    model = Membership
    extra = 0
    fields = ["user", "organization", "role", "created_at"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "time_zone", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]

    def save_model(self, request: HttpRequest, obj: Organization, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit_record(
            action="organization.changed" if change else "organization.created",
            organization=obj,
            actor=request.user,
            target=obj,
            data={"fields": sorted(form.changed_data)},
        )


class OpsKnightUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ["email", "display_name"]


class OpsKnightUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = OpsKnightUserChangeForm
    add_form = OpsKnightUserCreationForm
    ordering = ["email"]
    list_display = ["email", "display_name", "time_zone", "is_active", "is_staff", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["email", "display_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["display_name", "time_zone", "phone"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "display_name", "password1", "password2"]})
    ]
    inlines = [MembershipInline]

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        sensitive = sorted(
            set(form.changed_data) & {"is_active", "is_staff", "is_superuser", "password"}
        )
        if sensitive or not change:
            audit_record(
                action="user.changed" if change else "user.created",
                actor=request.user,
                target=obj,
                data={"fields": sensitive},
            )


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "organization", "role"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # self.instance still holds the stored role here: Django applies the form after clean().
        if (
            self.instance.pk
            and cleaned.get("role") != Role.OWNER
            and is_only_owner(membership=self.instance)
        ):
            raise forms.ValidationError("An organization must keep at least one owner.")
        return cleaned


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    form = MembershipForm
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__email", "organization__name"]
    autocomplete_fields = ["user", "organization"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["user", "organization"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        try:
            saved = membership_set(
                organization=obj.organization, user=obj.user, role=obj.role, actor=request.user
            )
        except OwnerRequiredError as exc:
            self.message_user(request, exc.messages[0], messages.ERROR)
            return
        obj.pk = saved.pk

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and is_only_owner(membership=obj):
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        try:
            membership_remove(organization=obj.organization, user=obj.user, actor=request.user)
        except OwnerRequiredError as exc:
            self.message_user(request, exc.messages[0], messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset.select_related("organization", "user"):
            self.delete_model(request, membership)


class APIKeyAddForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=SCOPE_CHOICES, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = APIKey
        fields = ["organization", "name", "scopes", "expires_at"]


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "prefix", "scopes", "last_used_at", "revoked_at"]
    list_filter = ["organization"]
    search_fields = ["name", "prefix"]
    actions = ["revoke"]
    readonly_fields = [
        "organization",
        "name",
        "prefix",
        "scopes",
        "created_by",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = APIKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.readonly_fields if obj is not None else []

    def save_model(self, request: HttpRequest, obj: APIKey, form: Any, change: bool) -> None:
        if change:
            return  # keys are immutable; revoke and issue a new one instead
        try:
            issued = api_key_create(
                organization=form.cleaned_data["organization"],
                name=form.cleaned_data["name"],
                scopes=list(form.cleaned_data["scopes"]),
                expires_at=form.cleaned_data.get("expires_at"),
                created_by=request.user,
            )
        except ValidationError as exc:  # pragma: no cover - the form validated the same fields
            raise forms.ValidationError(exc.messages) from exc
        obj.pk = issued.api_key.pk
        obj.refresh_from_db()
        self.message_user(
            request,
            f"API key created. Copy the token now, it will not be shown again: {issued.token}",
            messages.WARNING,
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[APIKey]) -> None:
        for api_key in queryset:
            api_key_revoke(api_key=api_key, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "organization",
        "actor_label",
        "action",
        "target_type",
        "target_id",
    ]
    list_filter = ["action", "organization"]
    search_fields = ["actor_label", "action", "target_id"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
