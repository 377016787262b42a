"""Routing and grouping rules: the rule language alone, then through the endpoints and console."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from incidents.ingestion import NormalizedEvent
from incidents.models import Alert, AlertAction, Incident, Service, Severity, Status, Urgency
from integrations.conditions import KeyTemplate, compile_conditions
from integrations.models import IntegrationRule
from integrations.routing import Rule, RuleAction, RuleSet, route
from integrations.services import IssuedIntegration, integration_create
from integrations.sources.grafana import SAMPLE as GRAFANA_SAMPLE
from opsknight.models import AuditEvent
from tests.incidents.factories import make_service
from tests.opsknight.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/integrations/alertmanager/"
DETAILS = {
    "labels": {"alertname": "DiskFull", "cluster": "eu-1", "instance": "web-1"},
    "annotations": {"runbook": "https://runbooks.example.com/disk"},
    "free_gb": 2,
    "paged": False,
    "alerts": [{"status": "firing"}],
    "empty": "",
}
EVENT = NormalizedEvent(
    action=AlertAction.TRIGGER,
    dedup_key="disk-web-1",
    summary="Disk 95% full on web-1",
    severity=Severity.WARNING,
    source="web-1",
    details=DETAILS,
)


def matches(field: str, operator: str, value: Any = None, event: NormalizedEvent = EVENT) -> bool:
    condition = {"field": field, "operator": operator}
    condition |= {"value": value} if value is not None else {}
    [compiled] = compile_conditions([condition])
    return compiled.matches(event)


def am_alert(status: str, instance: str, cluster: str = "eu-1", **labels: str) -> dict[str, Any]:
    resolved = status == "resolved"
    return {
        "status": status,
        "labels": {"alertname": "DiskFull", "cluster": cluster, "instance": instance, **labels},
        "annotations": {"summary": f"Disk full on {instance}"},
        "startsAt": "2026-11-20T09:14:03Z",
        "endsAt": "2026-11-20T09:24:03Z" if resolved else "0001-01-01T00:00:00Z",
        "fingerprint": f"fp-{cluster}-{instance}",
    }


def am_post(client: Client, key: str, status: str, alerts: list[dict[str, Any]]) -> Any:
    body = {"version": "4", "status": status, "receiver": "opsknight", "alerts": alerts}
    response = client.post(
        URL, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert response.status_code == 202, response.content
    return response.json()


def add_rule(
    issued: IssuedIntegration, action: str, conditions: Any = (), **fields: Any
) -> IntegrationRule:
    rule = IntegrationRule(
        integration=issued.integration, action=action, conditions=list(conditions), **fields
    )
    rule.full_clean()
    rule.save()
    return rule


# --- the rule language, pure ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "operator", "value", "expected"),
    [
        ("summary", "equals", "Disk 95% full on web-1", True),
        ("summary", "equals", "disk 95% full on web-1", False),  # exact, case included
        ("severity", "equals", "warning", True),
        ("dedup_key", "equals", "disk-web-1", True),
        ("details.free_gb", "equals", "2", True),  # numbers as JSON writes them
        ("details.paged", "equals", "false", True),
        ("details.alerts.0.status", "equals", "firing", True),  # a number indexes a list
        ("details.alerts", "equals", "[]", False),  # a list equals nothing
        ("labels.alertname", "not_equals", "DiskFull", False),
        ("labels.alertname", "not_equals", "MemoryFull", True),
        ("labels.team", "not_equals", "db", True),  # missing: not equal to anything
        ("source", "regex", r"^web-\d$", True),
        ("summary", "regex", r"(?i)^disk \d+% FULL", True),
        ("source", "regex", r"^db-", False),
        ("labels.team", "regex", ".*", False),  # missing never matches a pattern
        ("labels.cluster", "in", ["us-1", "eu-1"], True),
        ("labels.cluster", "in", ["us-1"], False),
        ("labels.cluster", "exists", None, True),
        ("labels.team", "exists", None, False),
        ("details.empty", "exists", None, False),  # "" does not exist
        ("details.empty", "not_exists", None, True),
        ("annotations.runbook", "exists", None, True),
        ("dedup_key", "not_exists", None, False),
    ],
)
def test_each_operator(field, operator, value, expected):
    assert matches(field, operator, value) is expected


def test_labels_come_from_the_alert_then_the_group_then_grafana_tags():
    grouped = NormalizedEvent(
        action=AlertAction.TRIGGER,
        details={"commonLabels": {"cluster": "eu-1"}, "commonAnnotations": {"team": "db"}},
    )
    legacy = NormalizedEvent(action=AlertAction.TRIGGER, details={"tags": {"cluster": "us-1"}})
    assert matches("labels.cluster", "equals", "eu-1", grouped)
    assert matches("annotations.team", "equals", "db", grouped)
    assert matches("labels.cluster", "equals", "us-1", legacy)
    assert matches("labels.cluster", "equals", "eu-1")  # the alert's own labels first


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ([{"field": "summary", "operator": "regex", "value": "(disk"}], "invalid regular"),
        ([{"field": "summary", "operator": "regex", "value": "a" * 501}], "longer than 500"),
        ([{"field": "summary", "operator": "contains", "value": "x"}], "unknown operator"),
        ([{"field": "title", "operator": "equals", "value": "x"}], "unknown field 'title'"),
        ([{"field": "details.", "operator": "exists"}], "unknown field"),
        ([{"field": "labels.", "operator": "exists"}], "unknown field"),
        ([{"field": "summary", "operator": "equals", "value": ["x"]}], "takes a string value"),
        ([{"field": "summary", "operator": "in", "value": []}], "list of 1 to 100 strings"),
        ([{"field": "summary", "operator": "exists", "value": "x"}], "takes no value"),
        ([{"field": "summary", "op": "exists"}], "unknown key 'op'"),
        (["summary"], "must be an object"),
        ({"field": "summary", "operator": "exists"}, "must be a JSON list"),
    ],
)
def test_bad_conditions_are_validation_errors(conditions, message):
    with pytest.raises(ValidationError) as caught:
        compile_conditions(conditions)
    assert message in " ".join(caught.value.messages)


@pytest.mark.parametrize(
    ("template", "key"),
    [
        ("{labels.alertname}-{labels.cluster}", "DiskFull-eu-1"),
        ("{labels.alertname}-{labels.team}", "DiskFull-"),  # a missing field renders as ""
        ("{labels.team}-{labels.zone}", ""),  # nothing found: the event keeps its key
        ("{{{labels.alertname}}}", "{DiskFull}"),
        ("disk:{details.free_gb}", "disk:2"),
        ("jmespath:join('-', [labels.alertname, labels.cluster])", "DiskFull-eu-1"),
        ("jmespath:labels.team", ""),
        ("jmespath:join('-', [labels.alertname, labels.team])", ""),  # join(null): keep the key
    ],
)
def test_dedup_key_templates(template, key):
    assert KeyTemplate.parse(template).render(EVENT) == key


@pytest.mark.parametrize(
    "template",
    ["", "{labels.alertname", "{summary!r}", "{summary:>10}", "{title}", "no field", "jmespath:("],
)
def test_bad_templates_are_validation_errors(template):
    with pytest.raises(ValidationError):
        KeyTemplate.parse(template)


def test_the_first_matching_rule_wins_unless_it_continues():
    home, db, web = Service(pk=1, name="Home"), Service(pk=2, name="DB"), Service(pk=3, name="Web")
    disk = compile_conditions(
        [{"field": "labels.alertname", "operator": "equals", "value": "DiskFull"}]
    )
    low = Rule("#1 low", RuleAction.SET_URGENCY, disk, urgency="low", continue_matching=True)
    to_db = Rule("#2 db", RuleAction.ROUTE, disk, target=db)
    to_web = Rule("#3 web", RuleAction.ROUTE, target=web)  # no conditions: every event
    routed = route(RuleSet(home, (low, to_db, to_web)), EVENT)
    assert (routed.service, routed.event.urgency, routed.applied) == (
        db,
        "low",
        ("#1 low", "#2 db"),
    )
    other = NormalizedEvent(action=AlertAction.TRIGGER, details={"labels": {"alertname": "Cpu"}})
    assert route(RuleSet(home, (low, to_db, to_web)), other).service == web
    assert route(RuleSet(home), other).service == home


# --- through the endpoints --------------------------------------------------------------------


def test_a_route_opens_the_incident_on_the_target_service(client, alertmanager, service, org):
    database = make_service(org, name="Database")
    add_rule(
        alertmanager,
        RuleAction.ROUTE,
        [{"field": "labels.team", "operator": "equals", "value": "db"}],
        target_service=database,
    )
    am_post(client, alertmanager.key, "firing", [am_alert("firing", "db-1", team="db")])
    am_post(client, alertmanager.key, "firing", [am_alert("firing", "web-1")])
    incidents = dict(Incident.objects.values_list("source", "service_id"))
    assert incidents == {"db-1": database.pk, "web-1": service.pk}
    alert = Alert.objects.get(source="db-1")
    assert (alert.service_id, alert.integration_id) == (database.pk, alertmanager.integration.pk)
    # Its resolve takes the same route, so it finds the incident.
    am_post(client, alertmanager.key, "resolved", [am_alert("resolved", "db-1", team="db")])
    assert Incident.objects.get(source="db-1").status == Status.RESOLVED


def test_a_route_to_another_organization_is_refused_then_ignored(
    client, alertmanager, service, other_service, caplog
):
    with pytest.raises(ValidationError) as caught:
        add_rule(alertmanager, RuleAction.ROUTE, target_service=other_service)
    assert "organization" in caught.value.message_dict["target_service"][0]
    # Written past clean() (a script, a service moved since): skipped, with a warning.
    IntegrationRule.objects.create(
        integration=alertmanager.integration, action=RuleAction.ROUTE, target_service=other_service
    )
    with caplog.at_level(logging.WARNING, logger="integrations.routing"):
        am_post(client, alertmanager.key, "firing", [am_alert("firing", "web-1")])
    assert Incident.objects.get().service_id == service.pk
    assert "organization" in caplog.text


def test_a_route_to_a_service_deactivated_since_is_ignored(client, alertmanager, service, org):
    database = make_service(org, name="Database")
    add_rule(alertmanager, RuleAction.ROUTE, target_service=database)
    Service.objects.filter(pk=database.pk).update(is_active=False)
    am_post(client, alertmanager.key, "firing", [am_alert("firing", "web-1")])
    assert Incident.objects.get().service_id == service.pk


def test_set_urgency_and_set_severity(client, alertmanager):
    staging = [{"field": "labels.cluster", "operator": "regex", "value": "^staging-"}]
    add_rule(
        alertmanager, RuleAction.SET_URGENCY, staging, urgency=Urgency.LOW, continue_matching=True
    )
    add_rule(alertmanager, RuleAction.SET_SEVERITY, staging, severity=Severity.INFO, position=1)
    am_post(client, alertmanager.key, "firing", [am_alert("firing", "web-1", cluster="staging-2")])
    am_post(client, alertmanager.key, "firing", [am_alert("firing", "web-1", severity="critical")])
    found = dict(Incident.objects.values_list("dedup_key", "urgency"))
    assert found == {"fp-staging-2-web-1": Urgency.LOW, "fp-eu-1-web-1": Urgency.HIGH}
    assert Incident.objects.get(urgency=Urgency.LOW).severity == Severity.INFO


def test_disabled_rules_do_nothing(client, alertmanager):
    add_rule(alertmanager, RuleAction.DROP, enabled=False)
    assert am_post(client, alertmanager.key, "firing", [am_alert("firing", "web-1")])[
        "results"
    ] == [{"dedup_key": "fp-eu-1-web-1", "outcome": "triggered"}]


def test_a_dropped_event_is_stored_and_opens_nothing(client, alertmanager, service):
    add_rule(
        alertmanager,
        RuleAction.DROP,
        [{"field": "labels.instance", "operator": "equals", "value": "noisy"}],
    )
    body = am_post(
        client,
        alertmanager.key,
        "firing",
        [am_alert("firing", "noisy"), am_alert("firing", "web-1")],
    )
    assert [r["outcome"] for r in body["results"]] == ["dropped", "triggered"]
    dropped = Alert.objects.get(outcome="dropped")
    assert (dropped.incident_id, dropped.service_id, dropped.dedup_key) == (
        None,
        service.pk,
        "fp-eu-1-noisy",
    )
    assert dropped.details["labels"]["instance"] == "noisy"
    assert dropped.payload["alerts"][0]["labels"]["instance"] == "noisy"  # its own part
    assert Incident.objects.get().source == "web-1"


def test_rules_apply_to_every_provider(client, service, org):
    """Grafana through the generic endpoint (labels as Alertmanager's), PagerDuty's own API."""
    blue = make_service(org, name="Blue team")
    grafana = integration_create(service=service, kind="grafana", name="Grafana")
    team = [{"field": "labels.team", "operator": "equals", "value": "blue"}]
    add_rule(grafana, RuleAction.ROUTE, team, target_service=blue)
    response = client.post(
        f"/api/v1/integrations/grafana/{grafana.key}/",
        json.dumps(GRAFANA_SAMPLE),
        content_type="application/json",
    )
    assert response.status_code == 202, response.content
    assert Incident.objects.get().service == blue

    pagerduty = integration_create(service=service, kind="pagerduty", name="PD")
    mount = [{"field": "details.custom_details.mount", "operator": "equals", "value": "/var"}]
    add_rule(pagerduty, RuleAction.SET_URGENCY, mount, urgency=Urgency.LOW)
    event = {
        "routing_key": pagerduty.key,
        "event_action": "trigger",
        "dedup_key": "disk-full-web-1",
        "payload": {
            "summary": "Disk 95% full on web-1",
            "source": "web-1",
            "severity": "critical",
            "custom_details": {"mount": "/var"},
        },
    }
    response = client.post("/v2/enqueue", json.dumps(event), content_type="application/json")
    assert response.status_code == 202, response.content
    assert Incident.objects.get(dedup_key="disk-full-web-1").urgency == Urgency.LOW


GROUP_BY_ALERTNAME_AND_CLUSTER = "{labels.alertname}-{labels.cluster}"


def test_a_storm_of_related_alerts_becomes_one_incident_and_resolves_as_one(client, alertmanager):
    add_rule(alertmanager, RuleAction.GROUP, dedup_key_template=GROUP_BY_ALERTNAME_AND_CLUSTER)
    storm = [am_alert("firing", f"web-{n}") for n in range(10)]
    body = am_post(client, alertmanager.key, "firing", storm)
    assert [r["outcome"] for r in body["results"]] == ["triggered"] + ["deduplicated"] * 9
    assert {r["dedup_key"] for r in body["results"]} == {"DiskFull-eu-1"}
    am_post(client, alertmanager.key, "firing", [am_alert("firing", "web-1", cluster="us-1")])
    incident = Incident.objects.get(dedup_key="DiskFull-eu-1")
    assert (incident.alerts.count(), Incident.objects.count()) == (10, 2)

    am_post(
        client, alertmanager.key, "resolved", [am_alert("resolved", f"web-{n}") for n in range(10)]
    )
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    assert incident.alerts.filter(action=AlertAction.RESOLVE).count() == 10
    assert Incident.objects.get(dedup_key="DiskFull-us-1").status == Status.TRIGGERED


def test_grouping_only_where_its_conditions_match(client, alertmanager):
    disk = [{"field": "labels.alertname", "operator": "equals", "value": "DiskFull"}]
    add_rule(alertmanager, RuleAction.GROUP, disk, dedup_key_template="jmespath:labels.cluster")
    body = am_post(
        client,
        alertmanager.key,
        "firing",
        [am_alert("firing", "web-1"), am_alert("firing", "web-2", alertname="Cpu")],
    )
    assert [r["dedup_key"] for r in body["results"]] == ["eu-1", "fp-eu-1-web-2"]


# --- validation in the model and the admin ----------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"action": "escalate"}, "action", "Unknown action"),
        ({"action": "route"}, "target_service", "needs a target_service"),
        ({"action": "drop", "urgency": "high"}, "urgency", "takes no urgency"),
        ({"action": "drop", "continue_matching": True}, "continue_matching", "always ends"),
        ({"action": "set_urgency", "urgency": "urgent"}, "urgency", "Unknown urgency"),
        (
            {"action": "group", "dedup_key_template": "{title}"},
            "dedup_key_template",
            "unknown field",
        ),
        ({"action": "group"}, "dedup_key_template", "needs a dedup_key_template"),
        (
            {"action": "drop", "conditions": [{"field": "x", "operator": "equals", "value": "1"}]},
            "conditions",
            "Condition 1: unknown field 'x'",
        ),
    ],
)
def test_bad_rules_are_refused_by_clean(alertmanager, fields, field, message):
    rule = IntegrationRule(integration=alertmanager.integration, **fields)
    with pytest.raises(ValidationError) as caught:
        rule.full_clean()
    assert message in " ".join(caught.value.message_dict[field])


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def admin_post(operator: Client, issued: IssuedIntegration, rule: dict[str, Any]) -> Any:
    integration = issued.integration
    data = {
        "name": integration.name,
        "enabled": "on",
        "rate_limit_per_minute": integration.rate_limit_per_minute,
        "options": "{}",
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        "rules-0-position": "0",
        "rules-0-enabled": "on",
        "rules-0-integration": integration.pk,
        **{f"rules-0-{name}": value for name, value in rule.items()},
    }
    return operator.post(f"/admin/integrations/integration/{integration.pk}/change/", data)


def dropping(condition: dict[str, Any]) -> dict[str, str]:
    return {"action": "drop", "conditions": json.dumps([condition])}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (dropping({"field": "summary", "operator": "regex", "value": "("}), "invalid regular"),
        (dropping({"field": "summary", "operator": "like", "value": "x"}), "unknown operator"),
        (dropping({"field": "title", "operator": "exists"}), "unknown field"),
        ({"action": "escalate", "conditions": "[]"}, "not one of the available choices"),
    ],
)
def test_the_admin_shows_bad_rules_as_errors(operator, alertmanager, rule, message):
    response = admin_post(operator, alertmanager, rule)
    assert response.status_code == 200  # the form again, with its errors
    assert message in response.content.decode()
    assert not IntegrationRule.objects.exists()


def test_the_admin_saves_a_good_rule_and_offers_only_the_organizations_services(
    operator, alertmanager, org, other_service
):
    database = make_service(org, name="Database")
    page = operator.get(f"/admin/integrations/integration/{alertmanager.integration.pk}/change/")
    choices = page.context["inline_admin_formsets"][0].formset.empty_form.fields["target_service"]
    assert set(choices.queryset) == {alertmanager.integration.service, database}
    response = admin_post(
        operator,
        alertmanager,
        {"action": "route", "target_service": database.pk, "conditions": "[]"},
    )
    assert response.status_code == 302
    rule = IntegrationRule.objects.get()
    assert rule.target_service == database
    audited = AuditEvent.objects.get(action="integration.rules_changed")
    assert audited.data["added"] == [rule.pk]
    assert audited.data["rules"][0]["action"] == "route"
    refused = admin_post(
        operator,
        alertmanager,
        {"action": "route", "target_service": other_service.pk, "conditions": "[]"},
    )
    assert "Select a valid choice" in refused.content.decode()


# --- the console, and the cost per request ----------------------------------------------------


def test_the_console_shows_each_events_route(operator, alertmanager, org):
    database = make_service(org, name="Database")
    noisy = [{"field": "labels.instance", "operator": "equals", "value": "noisy"}]
    add_rule(alertmanager, RuleAction.DROP, noisy)
    add_rule(
        alertmanager, RuleAction.SET_URGENCY, urgency="high", continue_matching=True, position=1
    )
    add_rule(alertmanager, RuleAction.ROUTE, target_service=database, position=2)
    add_rule(alertmanager, RuleAction.GROUP, dedup_key_template=GROUP_BY_ALERTNAME_AND_CLUSTER)
    body = {
        "version": "4",
        "status": "firing",
        "alerts": [am_alert("firing", "noisy"), am_alert("firing", "web-1")],
    }
    url = f"/admin/integrations/integration/{alertmanager.integration.pk}/test-console/"
    html = operator.post(url, {"payload": json.dumps(body)}).content.decode()
    assert "dropped by a rule: stored, no incident" in html
    assert "Database (routed)" in html
    assert "<code>DiskFull-eu-1</code>" in html
    assert "dedup key was fp-eu-1-web-1" in html
    assert "urgency set to high" in html
    assert "opens a new incident" in html
    assert not Alert.objects.exists()


def count_queries(client: Client, key: str, alerts: int, batch: str) -> tuple[int, int]:
    """(all queries, rule queries) of one webhook of `alerts` alerts, each opening an incident."""
    storm = [am_alert("firing", f"web-{n}", cluster=f"{batch}-{n}") for n in range(alerts)]
    with CaptureQueriesContext(connection) as queries:
        am_post(client, key, "firing", storm)
    sql = [query["sql"] for query in queries.captured_queries]
    return len(sql), sum("integrations_integrationrule" in statement for statement in sql)


def test_rules_cost_one_query_per_request(client, alertmanager, org):
    without_rules = integration_create(
        service=make_service(org, name="Plain"), kind="alertmanager", name="No rules"
    )
    database = make_service(org, name="Database")
    for position in range(5):
        regex = [{"field": "summary", "operator": "regex", "value": f"^never-{position}"}]
        add_rule(alertmanager, RuleAction.ROUTE, regex, target_service=database, position=position)
    add_rule(alertmanager, RuleAction.GROUP, dedup_key_template=GROUP_BY_ALERTNAME_AND_CLUSTER)
    counts = {
        (rules, alerts): count_queries(client, issued.key, alerts, f"{rules}-{alerts}")
        for rules, issued in ((0, without_rules), (6, alertmanager))
        for alerts in (1, 10)
    }
    print("queries (all, rules) by (rules, alerts):", counts)
    # One rules query per request, then evaluation in Python: no query per rule or per event.
    assert {rule_queries for _, rule_queries in counts.values()} == {1}
    assert counts[6, 1][0] == counts[0, 1][0]
    assert counts[6, 10][0] == counts[0, 10][0]
