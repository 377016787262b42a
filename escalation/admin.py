"""The admin is where operators configure escalation: policies, their steps, and each service's
policy and SLA targets; and where they look at what the engine and the auditor did.

A policy's page is written by the services in one call, `policy_create` or `policy_update`
(steps renumbered 0..n-1, audited there), after the forms asked `validate_step` everything the
call would refuse (`escalation.admin_forms`). Which services use a policy is shown on its page
and changed on the service's own page (`service_policy_set`), where its SLA targets live too.
Escalation states and audit findings are written by the engine only: here they are read-only.
The dry run (`escalation.admin_dryrun`) shows what a saved policy would do at a chosen time.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from escalation.admin_dryrun import dry_run_page
from escalation.admin_forms import (
    OrderedAutocompleteSelectMultiple,
    PolicyForm,
    StepForm,
    StepFormSet,
)
from escalation.models import (
    MAX_STEPS,
    AuditFinding,
    EscalationPolicy,
    EscalationState,
    EscalationStep,
    ServiceEscalation,
    SlaTarget,
)
from escalation.services import (
    POLICY_FIELDS,
    Who,
    policy_create,
    policy_delete,
    policy_update,
    service_policy_set,
)
from opsknight.services import audit_record

# --- policies -------------------------------------------------------------------------------


class StepInline(admin.StackedInline):
    model = EscalationStep
    form = StepForm
    formset = StepFormSet
    fields = [
        ("position", "delay_minutes"),
        "users",
        ("teams", "team_lead_only"),
        "schedules",
        "channels",
        ("high_urgency_only", "round_robin", "round_robin_minutes"),
    ]
    autocomplete_fields = ["users", "teams", "schedules"]
    ordering = ["position", "id"]
    extra = 1
    max_num = MAX_STEPS
    verbose_name_plural = (
        "steps, in order (each pages its targets after its delay; round robin: one at a time, "
        "users then teams then schedules, in the order chosen)"
    )

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name in self.autocomplete_fields:
            kwargs["widget"] = OrderedAutocompleteSelectMultiple(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ServiceLinkInline(admin.TabularInline):
    """Read-only: a service's policy is set on the service's page, with its SLA targets."""

    model = ServiceEscalation
    fk_name = "policy"
    fields = ["service", "sla_warning_minutes"]
    readonly_fields = fields
    show_change_link = True
    extra = 0
    can_delete = False
    verbose_name_plural = "services using this policy"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ServiceEscalation]:
        return super().get_queryset(request).select_related("service")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    form = PolicyForm
    change_form_template = "admin/escalation/escalationpolicy/change_form.html"
    list_display = ["name", "organization", "step_count", "repeat"]
    list_filter = ["organization"]
    list_select_related = ["organization"]
    search_fields = ["name", "description"]
    inlines = [StepInline, ServiceLinkInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EscalationPolicy]:
        return super().get_queryset(request).annotate(step_count=Count("steps"))

    @admin.display(description="steps", ordering="step_count")
    def step_count(self, policy: EscalationPolicy) -> int:
        return policy.step_count  # type: ignore[attr-defined]

    @admin.display(description="repeat")
    def repeat(self, policy: EscalationPolicy) -> str:
        if not policy.repeat_count:
            return "no"
        times = "once" if policy.repeat_count == 1 else f"{policy.repeat_count} times"
        return f"{times}, {policy.repeat_after_minutes} min after the last step"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["organization"] if obj is not None else []

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return self.inlines if obj is not None else [StepInline]

    def get_urls(self) -> list[URLPattern]:
        dry_run = path(
            "<path:object_id>/dry-run/",
            self.admin_site.admin_view(self.dry_run_view),
            name="escalation_escalationpolicy_dry_run",
        )
        return [dry_run, *super().get_urls()]

    def dry_run_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        policy = self.get_object(request, object_id)
        if policy is None or not self.has_view_permission(request, policy):
            raise Http404("No such escalation policy.")
        context = {**self.admin_site.each_context(request), "opts": self.opts}
        return dry_run_page(request, policy, context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if object_id.isdigit():
            extra_context = {
                **(extra_context or {}),
                "dry_run_url": reverse(
                    "admin:escalation_escalationpolicy_dry_run", args=[object_id]
                ),
                "add_service_url": reverse("admin:escalation_serviceescalation_add")
                + f"?policy={object_id}",
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Nothing yet: the policy and its steps are written together in save_related."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        steps = next(fs for fs in formsets if isinstance(fs, StepFormSet))
        fields = {name: form.cleaned_data[name] for name in POLICY_FIELDS if name in form.fields}
        who = Who(user=request.user)
        if change:
            policy = policy_update(
                policy=form.instance,
                changes={name: fields[name] for name in form.changed_data if name in fields},
                steps=steps.step_inputs() if steps.has_changed() else None,
                who=who,
            )
        else:
            policy = policy_create(
                organization=form.cleaned_data["organization"],
                steps=steps.step_inputs(),
                who=who,
                **fields,
            )
        form.instance.pk = policy.pk
        form.instance.refresh_from_db()
        for formset in formsets:
            # What the change message and the history read; the steps were rewritten whole.
            saved = list(policy.steps.all()) if formset is steps and formset.has_changed() else []
            formset.new_objects, formset.changed_objects, formset.deleted_objects = saved, [], []

    def delete_model(self, request: HttpRequest, obj: EscalationPolicy) -> None:
        policy_delete(policy=obj, who=Who(user=request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[EscalationPolicy]) -> None:
        for policy in queryset.select_related("organization"):
            self.delete_model(request, policy)


# --- services -------------------------------------------------------------------------------


class SlaTargetInline(admin.TabularInline):
    model = SlaTarget
    fields = ["urgency", "ack_minutes", "resolve_minutes"]
    extra = 0
    verbose_name_plural = "SLA targets per urgency (override the service's own)"


@admin.register(ServiceEscalation)
class ServiceEscalationAdmin(admin.ModelAdmin):
    list_display = ["service", "organization", "policy", "sla_warning_minutes", "sla_overrides"]
    list_filter = ["service__organization"]
    list_select_related = ["service__organization", "policy"]
    search_fields = ["service__name", "policy__name"]
    autocomplete_fields = ["service", "policy"]
    fields = ["service", "policy", "sla_warning_minutes"]
    inlines = [SlaTargetInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ServiceEscalation]:
        return super().get_queryset(request).annotate(sla_count=Count("sla_targets"))

    @admin.display(description="organization", ordering="service__organization__name")
    def organization(self, link: ServiceEscalation) -> str:
        return str(link.service.organization)

    @admin.display(description="SLA overrides", ordering="sla_count")
    def sla_overrides(self, link: ServiceEscalation) -> int:
        return link.sla_count  # type: ignore[attr-defined]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["service"] if obj is not None else []

    def save_model(
        self, request: HttpRequest, obj: ServiceEscalation, form: Any, change: bool
    ) -> None:
        # ServiceEscalation.clean (run by the form) already refused another organization's policy.
        if change and not form.changed_data:
            return
        service_policy_set(
            service=obj.service,
            policy=obj.policy,
            sla_warning_minutes=obj.sla_warning_minutes,
            who=Who(user=request.user),
        )

    def save_formset(
        self, request: HttpRequest, form: Any, formset: BaseInlineFormSet, change: bool
    ) -> None:
        super().save_formset(request, form, formset, change)
        if not formset.has_changed():
            return
        link: ServiceEscalation = form.instance
        audit_record(
            action="service.sla_targets_set",
            organization=link.service.organization,
            actor=request.user,
            target=link.service,
            data={
                "sla_targets": list(
                    link.sla_targets.order_by("urgency").values(
                        "urgency", "ack_minutes", "resolve_minutes"
                    )
                )
            },
        )

    def delete_model(self, request: HttpRequest, obj: ServiceEscalation) -> None:
        audit_record(
            action="service.escalation_removed",
            organization=obj.service.organization,
            actor=request.user,
            target=obj.service,
            data={"policy": obj.policy_id},
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ServiceEscalation]) -> None:
        for link in queryset.select_related("service__organization"):
            self.delete_model(request, link)


# --- what the engine wrote ------------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the engine and the auditor write as things happen: to look at, never to edit."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(EscalationState)
class EscalationStateAdmin(ReadOnlyAdmin):
    list_display = ["incident", "status", "generation", "cursor", "due_at", "updated_at"]
    list_filter = ["status"]
    list_select_related = ["incident"]
    search_fields = ["incident__title", "snapshot__name"]
    fields = [
        "incident",
        "policy",
        "status",
        "generation",
        "cursor",
        "due_at",
        "last_tick",
        "last_run_at",
        "manual_pending",
        "started_at",
        "updated_at",
        "frozen_policy",
    ]
    readonly_fields = fields

    @admin.display(description="snapshot (the policy as frozen at trigger time)")
    def frozen_policy(self, state: EscalationState) -> str:
        text = json.dumps(state.snapshot, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre class="escalation-snapshot">{}</pre>', text)


@admin.register(AuditFinding)
class AuditFindingAdmin(ReadOnlyAdmin):
    list_display = ["kind", "incident", "key", "repaired", "created_at"]
    list_filter = ["kind", "repaired"]
    list_select_related = ["incident"]
    search_fields = ["key", "detail"]
    date_hierarchy = "created_at"
    fields = ["kind", "incident", "key", "detail", "repaired", "created_at"]
    readonly_fields = fields
