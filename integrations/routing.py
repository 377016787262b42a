"""Routing and grouping rules of an integration: pure evaluation, plus a one-query loader.

`services.receive` passes every parsed event through its integration's enabled rules, in
`position` order, before ingestion. Two kinds of rule, both matched on the event as parsed:

- routing rules (`route`, `set_urgency`, `set_severity`, `drop`): the first rule whose conditions
  all match applies its action and ends the evaluation, unless its `continue_matching` flag is
  set (so `set_urgency` then `route` can both apply); `drop` always ends it.
- grouping rules (`group`): the first matching one whose template renders a key replaces the
  event's dedup key, so a storm of related alerts becomes one incident. Grouping ignores what
  routing did: a resolve carrying the same labels as its trigger gets the same key.

The conditions and key templates rules use are in `integrations.conditions`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import models

from incidents.ingestion import NormalizedEvent
from incidents.models import Service, Severity, Urgency
from integrations.conditions import Condition, KeyTemplate, compile_conditions

if TYPE_CHECKING:  # the models import this module to validate rules
    from integrations.models import Integration, IntegrationRule

logger = logging.getLogger(__name__)


class RuleAction(models.TextChoices):
    ROUTE = "route", "Route to another service"
    SET_URGENCY = "set_urgency", "Set the urgency"
    SET_SEVERITY = "set_severity", "Set the severity"
    DROP = "drop", "Drop: store the alert, open no incident"
    GROUP = "group", "Group: replace the dedup key"


# The one parameter each action takes; any other is refused rather than silently ignored.
ACTION_PARAMETER: dict[str, str] = {
    RuleAction.ROUTE: "target_service",
    RuleAction.SET_URGENCY: "urgency",
    RuleAction.SET_SEVERITY: "severity",
    RuleAction.GROUP: "dedup_key_template",
}


# --- rules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One IntegrationRule, checked and compiled: evaluation needs no database."""

    label: str
    action: str
    conditions: tuple[Condition, ...] = ()
    target: Service | None = None
    urgency: str = ""
    severity: str = ""
    template: KeyTemplate | None = None
    continue_matching: bool = False

    def matches(self, event: NormalizedEvent) -> bool:
        return all(condition.matches(event) for condition in self.conditions)


def _present(row: IntegrationRule) -> dict[str, bool]:
    return {
        "target_service": row.target_service_id is not None,
        "urgency": bool(row.urgency),
        "severity": bool(row.severity),
        "dedup_key_template": bool(row.dedup_key_template),
    }


def compile_rule(row: IntegrationRule, organization_id: int) -> Rule:
    """Check a rule as stored (model clean, and again at load); ValidationError by field."""
    errors: dict[str, list[str]] = {}
    try:
        conditions = compile_conditions(row.conditions)
    except ValidationError as exc:
        errors["conditions"], conditions = exc.messages, ()
    action = row.action
    if action not in RuleAction.values:
        errors["action"] = [f"Unknown action {action!r}."]
    wanted = ACTION_PARAMETER.get(action)
    for name, present in _present(row).items():
        if present and name != wanted:
            errors.setdefault(name, []).append(f"A {action} rule takes no {name}; clear it.")
        elif not present and name == wanted:
            errors.setdefault(name, []).append(f"A {action} rule needs a {name}.")
    if row.continue_matching and action in (RuleAction.DROP, RuleAction.GROUP):
        errors["continue_matching"] = [f"A {action} rule always ends its evaluation."]
    target = row.target_service if row.target_service_id is not None else None
    if action == RuleAction.ROUTE and target is not None:
        if target.organization_id != organization_id:
            errors.setdefault("target_service", []).append(
                "Route only to a service of the integration's organization."
            )
        elif not target.is_active:
            errors.setdefault("target_service", []).append("That service is inactive.")
    if row.urgency and row.urgency not in Urgency.values:
        errors.setdefault("urgency", []).append(f"Unknown urgency {row.urgency!r}.")
    if row.severity and row.severity not in Severity.values:
        errors.setdefault("severity", []).append(f"Unknown severity {row.severity!r}.")
    template = None
    if action == RuleAction.GROUP and row.dedup_key_template:
        try:
            template = KeyTemplate.parse(row.dedup_key_template)
        except ValidationError as exc:
            errors.setdefault("dedup_key_template", []).extend(exc.messages)
    if errors:
        raise ValidationError(errors)
    return Rule(
        label=str(row),
        action=action,
        conditions=conditions,
        target=target,
        urgency=row.urgency,
        severity=row.severity,
        template=template,
        continue_matching=row.continue_matching,
    )


@dataclass(frozen=True)
class RuleSet:
    service: Service  # the integration's: where events go unless a rule routes them
    routing: tuple[Rule, ...] = ()
    grouping: tuple[Rule, ...] = ()


def load_rules(integration: Integration) -> RuleSet:
    """The integration's enabled rules in one query, compiled once for the whole request.

    A rule that no longer holds (a service moved or deactivated since, a row written past
    `clean()`) is skipped with a warning: an alert must never fail because of a rule.
    """
    routing, grouping = [], []
    rows = (
        integration.rules.filter(enabled=True)
        .select_related("target_service")
        .order_by("position", "pk")
    )
    for row in rows:
        try:
            rule = compile_rule(row, integration.organization_id)
        except ValidationError as exc:
            logger.warning(
                "integration %s: rule %s ignored: %s", integration.pk, row.pk, exc.messages
            )
            continue
        (grouping if rule.action == RuleAction.GROUP else routing).append(rule)
    return RuleSet(integration.service, tuple(routing), tuple(grouping))


@dataclass(frozen=True)
class Route:
    """Where one event goes, and the event as the rules changed it."""

    service: Service
    event: NormalizedEvent
    dropped: bool = False
    applied: tuple[str, ...] = ()  # the rules that changed something, in order


def route(rules: RuleSet, event: NormalizedEvent) -> Route:
    """Apply the routing rules, then the grouping rules, to one event; pure."""
    service, dropped = rules.service, False
    changes: dict[str, Any] = {}
    applied: list[str] = []
    for rule in rules.routing:
        if not rule.matches(event):
            continue
        applied.append(rule.label)
        if rule.action == RuleAction.DROP:
            dropped = True
            break
        if rule.action == RuleAction.ROUTE and rule.target is not None:
            service = rule.target
        elif rule.action == RuleAction.SET_URGENCY:
            changes["urgency"] = Urgency(rule.urgency)
        elif rule.action == RuleAction.SET_SEVERITY:
            changes["severity"] = Severity(rule.severity)
        if not rule.continue_matching:
            break
    for rule in rules.grouping:
        if (
            rule.template is not None
            and rule.matches(event)
            and (key := rule.template.render(event))
        ):
            changes["dedup_key"] = key
            applied.append(rule.label)
            break
    return Route(service, replace(event, **changes) if changes else event, dropped, tuple(applied))
