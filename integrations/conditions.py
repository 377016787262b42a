"""What routing and grouping rules read: event fields, conditions and dedup-key templates.

Pure: no database. `integrations.routing` compiles stored rules from these parts.

Conditions, a JSON list; all must match and an empty list matches every event:
    [{"field": "labels.severity", "operator": "in", "value": ["critical", "page"]},
     {"field": "summary", "operator": "regex", "value": "(?i)disk"}]
  field: `summary`, `source`, `severity`, `dedup_key` (as the parser produced them);
    `details.<a>.<b>`: a path into the details, a number indexes a list (`details.alerts.0`);
    `labels.<name>`: Alertmanager and Grafana labels: the alert's `details.labels`, else
    `details.commonLabels` (Alertmanager grouped by group key), else `details.tags` (Grafana
    legacy); `annotations.<name>`: `details.annotations`, else `details.commonAnnotations`.
  operator: `equals` / `not_equals` (a string value), `regex` (Python `re.search`, at most
    500 characters, over the first 10,000 characters of the value), `in` (a list of strings),
    `exists` / `not_exists` (no value).
  Values compare as text: numbers as JSON writes them, booleans as `true`/`false`. A field that
  is absent, null or "" does not exist: it equals nothing, so it is `not_equals` anything; an
  object or a list equals nothing either.

Templates of `group` rules: `{labels.alertname}-{labels.cluster}` (the same fields; `{{` and `}}`
are literal braces) or `jmespath:<expression>` over {summary, source, severity, dedup_key,
details, labels, annotations} (labels and annotations merged as above). A missing field renders
as ""; when every field is missing the rule renders nothing and the event keeps its key (else
unrelated events would share the key "-"). Ingestion normalizes the key as for any event.
"""

from __future__ import annotations

import json
import logging
import re
import string
from dataclasses import dataclass
from typing import Any

import jmespath
from django.core.exceptions import ValidationError
from jmespath.exceptions import JMESPathError

from incidents.ingestion import NormalizedEvent

logger = logging.getLogger(__name__)

PLAIN_FIELDS = ("summary", "source", "severity", "dedup_key")
LABEL_SECTIONS = ("labels", "commonLabels", "tags")
ANNOTATION_SECTIONS = ("annotations", "commonAnnotations")
OPERATORS = ("equals", "not_equals", "regex", "in", "exists", "not_exists")
CONDITION_KEYS = {"field", "operator", "value"}
MAX_CONDITIONS = 20
MAX_IN_VALUES = 100
REGEX_MAX_LENGTH = 500
# Patterns are operators' and run on senders' text: a bounded subject bounds a bad backtrack.
REGEX_SUBJECT_LIMIT = 10_000
TEMPLATE_MAX_LENGTH = 500
JMESPATH_PREFIX = "jmespath:"
_MISSING: Any = object()


# --- fields -----------------------------------------------------------------------------------


def field_error(field: Any) -> str | None:
    """Why `field` is not a field rules can read, or None when it is."""
    if not isinstance(field, str) or not field:
        return "'field' must be a non-empty string."
    head, _, rest = field.partition(".")
    if field in PLAIN_FIELDS or (head == "details" and rest and all(rest.split("."))):
        return None
    if head in ("labels", "annotations") and rest:
        return None
    return (
        f"unknown field {field!r}: use {', '.join(PLAIN_FIELDS)}, details.<path>, "
        "labels.<name> or annotations.<name>."
    )


def _details(event: NormalizedEvent) -> dict[str, Any]:
    return event.details if isinstance(event.details, dict) else {}


def _path(value: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _section(details: dict[str, Any], sections: tuple[str, ...], name: str) -> Any:
    for section in sections:
        found = details.get(section)
        if isinstance(found, dict) and name in found:
            return found[name]
    return _MISSING


def _merged(details: dict[str, Any], sections: tuple[str, ...]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for section in reversed(sections):  # the first section wins
        if isinstance(found := details.get(section), dict):
            merged |= found
    return merged


def field_value(event: NormalizedEvent, field: str) -> Any:
    """The field's value, or `_MISSING` when it is absent, null or ""."""
    if field in PLAIN_FIELDS:
        value = getattr(event, field)
    else:
        head, _, rest = field.partition(".")
        if head == "details":
            value = _path(_details(event), rest.split("."))
        else:
            sections = LABEL_SECTIONS if head == "labels" else ANNOTATION_SECTIONS
            value = _section(_details(event), sections, rest)
    return _MISSING if value is None or (isinstance(value, str) and not value) else value


def _text(value: Any) -> str | None:
    """A scalar as the text conditions compare; None for objects, lists and `_MISSING`."""
    if isinstance(value, str):
        return str(value)  # Severity members print as their value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return None


# --- conditions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str
    text: str = ""  # equals, not_equals
    choices: frozenset[str] = frozenset()  # in
    pattern: re.Pattern[str] | None = None  # regex

    def matches(self, event: NormalizedEvent) -> bool:
        found = field_value(event, self.field)
        if self.operator in ("exists", "not_exists"):
            return (found is not _MISSING) == (self.operator == "exists")
        text = _text(found)
        if self.operator == "not_equals":
            return text != self.text
        if text is None:
            return False
        if self.operator == "equals":
            return text == self.text
        if self.operator == "in":
            return text in self.choices
        return self.pattern is not None and bool(self.pattern.search(text[:REGEX_SUBJECT_LIMIT]))


def _condition(item: Any) -> Condition:
    if not isinstance(item, dict):
        raise ValidationError("must be an object with 'field', 'operator' and 'value'.")
    problems = [f"unknown key {name!r}." for name in sorted(set(item) - CONDITION_KEYS, key=str)]
    field, operator, value = item.get("field"), item.get("operator"), item.get("value", _MISSING)
    if error := field_error(field):
        problems.append(error)
    pattern = None
    if operator not in OPERATORS:
        problems.append(f"unknown operator {operator!r}: use one of {', '.join(OPERATORS)}.")
    elif operator in ("exists", "not_exists"):
        if value is not _MISSING:
            problems.append(f"'{operator}' takes no value.")
    elif operator == "in":
        if not (
            isinstance(value, list)
            and 0 < len(value) <= MAX_IN_VALUES
            and all(isinstance(v, str) for v in value)
        ):
            problems.append(f"'in' takes a list of 1 to {MAX_IN_VALUES} strings.")
    elif not isinstance(value, str):
        problems.append(f"'{operator}' takes a string value.")
    elif operator == "regex":
        if len(value) > REGEX_MAX_LENGTH:
            problems.append(f"the regular expression is longer than {REGEX_MAX_LENGTH} characters.")
        else:
            try:
                pattern = re.compile(value)
            except re.error as exc:
                problems.append(f"invalid regular expression: {exc}.")
    if problems:
        raise ValidationError(problems)
    return Condition(
        field=field,
        operator=operator,
        text=value if isinstance(value, str) and operator != "regex" else "",
        choices=frozenset(value) if operator == "in" else frozenset(),
        pattern=pattern,
    )


def compile_conditions(raw: Any) -> tuple[Condition, ...]:
    """A rule's conditions, checked and compiled; ValidationError lists every problem."""
    if not isinstance(raw, list):
        raise ValidationError("Conditions must be a JSON list of objects.")
    if len(raw) > MAX_CONDITIONS:
        raise ValidationError(f"At most {MAX_CONDITIONS} conditions.")
    conditions, errors = [], []
    for number, item in enumerate(raw, start=1):
        try:
            conditions.append(_condition(item))
        except ValidationError as exc:
            errors.extend(f"Condition {number}: {message}" for message in exc.messages)
    if errors:
        raise ValidationError(errors)
    return tuple(conditions)


# --- dedup key templates ----------------------------------------------------------------------


@dataclass(frozen=True)
class KeyTemplate:
    """`{field}` placeholders between literal text, or a compiled JMESPath expression."""

    parts: tuple[tuple[str, str | None], ...] = ()  # (literal text, field that follows it)
    expression: Any = None

    @classmethod
    def parse(cls, text: str) -> KeyTemplate:
        if not text.strip():
            raise ValidationError("A group rule needs a dedup key template.")
        if len(text) > TEMPLATE_MAX_LENGTH:
            raise ValidationError(f"At most {TEMPLATE_MAX_LENGTH} characters.")
        if text.startswith(JMESPATH_PREFIX):
            try:
                return cls(expression=jmespath.compile(text.removeprefix(JMESPATH_PREFIX)))
            except JMESPathError as exc:
                raise ValidationError(f"Invalid JMESPath expression: {exc}") from exc
        try:
            pieces = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise ValidationError(f"Invalid template: {exc}.") from exc
        problems = []
        for _, field, spec, conversion in pieces:
            if field is not None and (spec or conversion):
                problems.append(f"{{{field}}}: formats and conversions are not supported.")
            if field is not None and (error := field_error(field)):
                problems.append(error)
        if not any(field for _, field, _, _ in pieces):
            problems.append("The template names no field, e.g. {labels.alertname}.")
        if problems:
            raise ValidationError(problems)
        return cls(parts=tuple((literal, field) for literal, field, _, _ in pieces))

    def render(self, event: NormalizedEvent) -> str:
        """The key for this event; "" when every field it names is missing."""
        if self.expression is not None:
            return self._search(event)
        rendered, found = [], False
        for literal, field in self.parts:
            rendered.append(literal)
            value = _text(field_value(event, field)) if field is not None else None
            if value:
                found = True
                rendered.append(value)
        return "".join(rendered) if found else ""

    def _search(self, event: NormalizedEvent) -> str:
        details = _details(event)
        data = {
            "summary": event.summary,
            "source": event.source,
            "severity": str(event.severity),
            "dedup_key": event.dedup_key or "",
            "details": details,
            "labels": _merged(details, LABEL_SECTIONS),
            "annotations": _merged(details, ANNOTATION_SECTIONS),
        }
        try:
            result = self.expression.search(data)
        except JMESPathError as exc:  # e.g. join() given a number: keep the event's own key
            logger.warning("dedup key template failed on an event: %s", exc)
            return ""
        if result is None or result in ("", [], {}):
            return ""
        text = _text(result)
        return text if text is not None else json.dumps(result, sort_keys=True, ensure_ascii=False)
