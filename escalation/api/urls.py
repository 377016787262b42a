from django.urls import path

from escalation.api import views, writes
from oncall.api.writes import by_method

_ORG = "organizations/<slug:org_slug>"
_POLICY = f"{_ORG}/escalation-policies/<int:policy_id>"

urlpatterns = [
    path(f"{_ORG}/oncall", views.oncall, name="api-oncall"),
    path(
        f"{_ORG}/escalation-policies",
        by_method(GET=views.policies, POST=writes.create_policy),
        name="api-escalation-policies",
    ),
    path(
        _POLICY,
        by_method(GET=views.policy_detail, PATCH=writes.change_policy, DELETE=writes.change_policy),
        name="api-escalation-policy-detail",
    ),
    path(f"{_POLICY}/steps", writes.add_step, name="api-escalation-policy-steps"),
    path(
        f"{_POLICY}/steps/<int:step_id>",
        writes.change_step,
        name="api-escalation-policy-step-detail",
    ),
    path(f"{_POLICY}/dry-run", views.policy_dry_run, name="api-escalation-policy-dry-run"),
    path(
        "escalation-policies/<int:policy_id>/dry-run",
        views.dry_run_by_id,
        name="api-escalation-dry-run",
    ),
    path(
        f"{_ORG}/services/<int:service_id>/escalation-policy",
        by_method(GET=views.service_policy, PUT=writes.set_service_policy),
        name="api-service-escalation-policy",
    ),
    path(
        f"{_ORG}/incidents/<int:incident_id>/escalation",
        views.incident_escalation,
        name="api-incident-escalation",
    ),
]
