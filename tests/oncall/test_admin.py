"""The on-call admin as operators use it: pages rendered, forms posted as a browser posts them.

Every POST starts from the fields of the page as rendered (`page_form`, including the formsets'
management forms), changes a few, and posts the lot, so the tests exercise the real formsets.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from django.forms import modelform_factory
from django.test import Client
from django.utils import timezone

from oncall.admin_forms import OnCallModelForm
from oncall.models import (
    CalendarFeed,
    Layer,
    LayerRestriction,
    Override,
    RotationType,
    Schedule,
    Team,
)
from oncall.services import RestrictionInput, calendar_feed_authenticate, override_create
from opsknight.models import AuditEvent, User
from tests.oncall.factories import layer, people, schedule
from tests.opsknight.factories import UserFactory, member

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


class _FormFields(HTMLParser):
    """The name/value pairs a browser would submit for one <form>."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.fields: dict[str, list[str]] = {}
        self.select: str | None = None
        self.textarea: str | None = None

    def _add(self, name: str | None, value: str) -> None:
        if name and "__prefix__" not in name:
            self.fields.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        kind = (a.get("type") or "text").lower()
        if tag == "input" and kind not in {"submit", "button", "image", "file", "reset"}:
            if kind not in {"checkbox", "radio"} or "checked" in a:
                self._add(a.get("name"), a.get("value") or ("on" if kind == "checkbox" else ""))
        elif tag == "select":
            self.select = a.get("name")
            self.fields.setdefault(self.select or "", [])
        elif tag == "option" and self.select and "selected" in a:
            self._add(self.select, a.get("value") or "")
        elif tag == "textarea":
            self.textarea = a.get("name")
            self._add(self.textarea, "")

    def handle_data(self, data: str) -> None:
        if self.inside and self.textarea and "__prefix__" not in self.textarea:
            self.fields[self.textarea][-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None


def page_form(response, form_id: str) -> dict[str, list[str]]:
    assert response.status_code == 200
    parser = _FormFields(form_id)
    parser.feed(response.content.decode())
    return {name: values for name, values in parser.fields.items() if name}


def put(data: dict[str, list[str]], **fields: object) -> dict[str, list[str]]:
    """Set fields by name; `__` in a keyword stands for `-` (formset prefixes)."""
    for name, value in fields.items():
        data[name.replace("__", "-")] = [str(value)]
    return data


def errors_of(response) -> str:
    return " ".join(re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.text, re.S))


def preview_row(response, day: date) -> list[tuple[str, str, str, bool]]:
    """(start, end, who, is gap) of each segment listed in the preview's row for `day`."""
    row = re.search(rf'<tr id="preview-{day.isoformat()}">(.*?)</tr>', response.text, re.S)
    assert row is not None
    return [
        (start, end, who, "gap" in cls)
        for cls, start, end, who in re.findall(
            r'<li class="([^"]*)" data-start="([^"]+)" data-end="([^"]+)" data-who="([^"]+)">',
            row.group(1),
        )
    ]


@pytest.fixture
def operator() -> object:
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def operator_client(client, operator) -> Client:
    client.force_login(operator)
    return client


def _url(model: str, pk: int | None = None, view: str = "change") -> str:
    return f"/admin/oncall/{model}/" + (f"{pk}/{view}/" if pk else "")


def _schedule_page(client: Client, on: Schedule) -> dict[str, list[str]]:
    return page_form(client.get(_url("schedule", on.pk)), "schedule_form")


@pytest.fixture
def configured(org):
    """A Berlin schedule: a weekdays layer over a one-person fallback, an override tomorrow."""
    alice, bob, carol = people(org, 3)
    primary = schedule(org, time_zone="Europe/Berlin")
    start = timezone.now() - timedelta(days=3)
    business = RestrictionInput(start_time=time(9), end_time=time(17), days=(0, 1, 2, 3, 4))
    weekdays = layer(primary, [alice, bob], start, name="Weekdays", restrictions=[business])
    layer(primary, [carol], start, name="Fallback", priority=-1)
    soon = timezone.now() + timedelta(days=1)
    override_create(schedule=primary, user=carol, start=soon, end=soon + timedelta(hours=4))
    return primary, weekdays, (alice, bob, carol)


# --- pages ----------------------------------------------------------------------------------


def test_pages_render_for_a_configured_schedule(operator_client, configured):
    primary, weekdays, _ = configured
    CalendarFeed.objects.create(
        organization=primary.organization, schedule=primary, token_hash="x" * 64, prefix="okcal_x"
    )
    for path in [
        *(_url(model) for model in ["schedule", "layer", "calendarfeed", "shiftswap"]),
        *(_url(model) for model in ["handoffnotice", "team"]),
        *(_url(model) + "add/" for model in ["schedule", "calendarfeed"]),
        _url("layer") + f"add/?schedule={primary.pk}",
        _url("schedule", primary.pk),
        _url("layer", weekdays.pk),
        _url("calendarfeed", CalendarFeed.objects.get().pk),
    ]:
        assert operator_client.get(path).status_code == 200, path
    page = operator_client.get(_url("schedule", primary.pk)).text
    assert "Weekdays" in page
    assert "Mon, Tue, Wed, Thu, Fri 09:00-17:00" in page
    assert "Times on this page are in Europe/Berlin" in page


@pytest.mark.parametrize("staff", [True, False])
def test_only_superusers_reach_the_admin(org, configured, staff):
    primary, _, _ = configured
    client = Client()
    client.force_login(member(org, is_staff=staff))
    for path in [_url("schedule"), _url("schedule", primary.pk), _url("calendarfeed") + "add/"]:
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


# --- preview --------------------------------------------------------------------------------


def test_preview_shows_who_is_on_call_each_local_day_and_marks_gaps(operator_client, org):
    alice, bob, carol = (member(org, display_name=name) for name in ["Alice", "Bob", "Carol"])
    primary = schedule(org, time_zone="Europe/Berlin")
    first = date(2026, 10, 24)  # Berlin leaves summer time on the 25th: a 25-hour day
    layer(
        primary,
        [alice, bob],
        datetime(2026, 10, 24, tzinfo=BERLIN),
        rotation_type=RotationType.DAILY,
        end=datetime(2026, 10, 27, 9, tzinfo=BERLIN),
    )
    override_create(
        schedule=primary,
        user=carol,
        start=datetime(2026, 10, 26, 12, tzinfo=BERLIN),
        end=datetime(2026, 10, 26, 14, tzinfo=BERLIN),
    )

    response = operator_client.get(_url("schedule", primary.pk) + "?preview_from=2026-10-24")

    # Turn 0 (Alice) starts at the 09:00 hand-off; the turn before it is the last person's.
    assert preview_row(response, first) == [
        ("00:00", "09:00", "Bob", False),
        ("09:00", "24:00", "Alice", False),
    ]
    assert preview_row(response, date(2026, 10, 25)) == [
        ("00:00", "09:00", "Alice", False),
        ("09:00", "24:00", "Bob", False),
    ]
    assert preview_row(response, date(2026, 10, 26)) == [
        ("00:00", "09:00", "Bob", False),
        ("09:00", "12:00", "Alice", False),
        ("12:00", "14:00", "Carol", False),
        ("14:00", "24:00", "Alice", False),
    ]
    assert preview_row(response, date(2026, 10, 27)) == [
        ("00:00", "09:00", "Alice", False),
        ("09:00", "24:00", "Gap", True),
    ]
    assert preview_row(response, date(2026, 11, 6)) == [("00:00", "24:00", "Gap", True)]
    assert f'id="preview-{date(2026, 11, 7).isoformat()}"' not in response.text
    # The 25-hour day is drawn to scale: 00:00 to 09:00 holds ten real hours, 40% of the day.
    assert 'style="flex: 0 0 40.000%" title="00:00-09:00 Alice"' in response.text


def test_health_lists_gaps_single_person_and_ending_layers(operator_client, org):
    (solo,) = people(org, 1)
    primary = schedule(org)
    start = timezone.now() - timedelta(days=1)
    layer(primary, [solo], start, name="Solo", end=start + timedelta(days=4))

    page = operator_client.get(_url("schedule", primary.pk)).text

    assert '<li class="problem" id="health-gaps">1 gap with nobody on call' in page
    assert "Rotations of one person (no one to hand off to): Solo" in page
    assert "Layer Solo ends" in page


# --- layers ---------------------------------------------------------------------------------


def _new_layer_form(client: Client, on: Schedule, **fields: object) -> dict[str, list[str]]:
    page = client.get(_url("layer") + f"add/?schedule={on.pk}")
    data = page_form(page, "layer_form")
    return put(data, name="Primary", start_0="2026-11-02", start_1="00:00", **fields)


def test_layer_with_people_and_a_restriction_is_created_in_order_and_audited(operator_client, org):
    alice, bob = people(org, 2)
    primary = schedule(org, time_zone="Europe/Berlin")
    data = _new_layer_form(operator_client, primary)
    put(data, participants__TOTAL_FORMS=3, restrictions__TOTAL_FORMS=1)
    put(data, participants__0__user=bob.pk, participants__0__position=2)
    put(data, participants__1__user=alice.pk, participants__1__position=1)
    put(data, participants__2__user=bob.pk, participants__2__position=3)
    put(data, restrictions__0__kind="daily", restrictions__0__start_time="09:00")
    put(data, restrictions__0__end_time="17:00")
    data["restrictions-0-days"] = ["0", "4"]

    response = operator_client.post(_url("layer") + "add/", data)

    assert response.status_code == 302, errors_of(response)
    assert response["Location"] == _url("schedule", primary.pk)
    created = Layer.objects.get()
    assert created.start == datetime(2026, 11, 2, tzinfo=BERLIN)  # typed in the schedule's zone
    assert list(created.participants.values_list("position", "user_id")) == [
        (0, alice.pk),
        (1, bob.pk),
        (2, bob.pk),
    ]
    restriction = LayerRestriction.objects.get()
    assert (restriction.days, restriction.start_time) == ([0, 4], time(9))
    audit = AuditEvent.objects.get(action="schedule.layer.created")
    assert audit.data["participants"] == [alice.pk, bob.pk, bob.pk]


def test_rotation_without_participants_is_refused_and_nothing_is_written(operator_client, org):
    primary = schedule(org)
    events = AuditEvent.objects.count()
    data = _new_layer_form(operator_client, primary)

    response = operator_client.post(_url("layer") + "add/", data)

    assert response.status_code == 200
    assert "A rotation needs at least one participant" in errors_of(response)
    assert Layer.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_removing_every_participant_of_a_layer_is_refused(operator_client, configured):
    _, weekdays, _ = configured
    data = page_form(operator_client.get(_url("layer", weekdays.pk)), "layer_form")
    put(data, participants__0__DELETE="on", participants__1__DELETE="on")

    response = operator_client.post(_url("layer", weekdays.pk), data)

    assert "A rotation needs at least one participant" in errors_of(response)
    assert weekdays.participants.count() == 2


def test_participant_from_another_organization_is_refused(operator_client, org, other_org):
    primary = schedule(org)
    stranger = member(other_org, display_name="Stranger")
    data = _new_layer_form(operator_client, primary)
    put(data, participants__0__user=stranger.pk)

    response = operator_client.post(_url("layer") + "add/", data)

    assert "Not members of the schedule&#x27;s organization: Stranger." in errors_of(response)
    assert Layer.objects.count() == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"end_0": "2026-11-01", "end_1": "00:00"}, "The end must be after the start."),
        (
            {"rotation_type": "daily", "shift_length": "1 01:00:00"},
            "A shift cannot be longer than one turn of the rotation.",
        ),
    ],
)
def test_layer_page_refuses_invalid_timing(operator_client, org, fields, message):
    (alice,) = people(org, 1)
    data = _new_layer_form(operator_client, schedule(org), **fields)
    put(data, participants__0__user=alice.pk)

    response = operator_client.post(_url("layer") + "add/", data)

    assert message in errors_of(response)
    assert Layer.objects.count() == 0


def test_empty_restriction_window_is_refused(operator_client, configured):
    _, weekdays, _ = configured
    data = page_form(operator_client.get(_url("layer", weekdays.pk)), "layer_form")
    put(data, restrictions__0__end_time="09:00")

    response = operator_client.post(_url("layer", weekdays.pk), data)

    assert "The window is empty: it ends where it starts." in errors_of(response)
    assert LayerRestriction.objects.get(layer=weekdays).end_time == time(17)


def test_layer_row_on_the_schedule_page_refuses_end_before_start(operator_client, configured):
    primary, weekdays, _ = configured
    data = _schedule_page(operator_client, primary)
    index = 0 if data["layers-0-id"] == [str(weekdays.pk)] else 1
    put(data, **{f"layers__{index}__end_0": "2020-01-01", f"layers__{index}__end_1": "00:00"})

    response = operator_client.post(_url("schedule", primary.pk), data)

    assert response.status_code == 200
    assert "The end must be after the start." in errors_of(response)
    weekdays.refresh_from_db()
    assert weekdays.end is None


def test_layer_rename_on_the_schedule_page_is_saved_and_audited(operator_client, configured):
    primary, weekdays, _ = configured
    data = _schedule_page(operator_client, primary)
    index = 0 if data["layers-0-id"] == [str(weekdays.pk)] else 1
    put(data, **{f"layers__{index}__name": "Business hours"})

    response = operator_client.post(_url("schedule", primary.pk), data)

    assert response.status_code == 302, errors_of(response)
    weekdays.refresh_from_db()
    assert weekdays.name == "Business hours"
    assert AuditEvent.objects.get(action="schedule.layer.changed").data["fields"] == ["name"]


# --- schedules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "team_elsewhere", "message"),
    [
        ("Mars/Olympus", False, "Unknown time zone &#x27;Mars/Olympus&#x27;"),
        ("UTC", True, "This team belongs to another organization."),
    ],
)
def test_new_schedule_is_refused(operator_client, org, other_org, zone, team_elsewhere, message):
    data = page_form(operator_client.get(_url("schedule") + "add/"), "schedule_form")
    put(data, organization=org.pk, name="Primary", time_zone=zone)
    if team_elsewhere:
        put(data, team=Team.objects.create(organization=other_org, name="Elsewhere").pk)

    response = operator_client.post(_url("schedule") + "add/", data)

    assert message in errors_of(response)
    assert Schedule.objects.count() == 0


def test_schedule_rename_onto_an_existing_name_is_refused(operator_client, configured):
    primary, _, _ = configured
    schedule(primary.organization, name="Secondary")
    data = put(_schedule_page(operator_client, primary), name="Secondary")

    response = operator_client.post(_url("schedule", primary.pk), data)

    assert "already has a schedule with this name" in errors_of(response)
    primary.refresh_from_db()
    assert primary.name == "Primary"


def test_deleting_a_schedule_is_audited(operator_client, configured):
    primary, _, _ = configured

    response = operator_client.post(_url("schedule", primary.pk, "delete"), {"post": "yes"})

    assert response.status_code == 302
    assert not Schedule.objects.exists()
    assert AuditEvent.objects.get(action="schedule.deleted").data == {"name": "Primary"}


def test_model_error_on_a_field_the_form_lacks_is_a_form_error(org):
    """Not a 500: Django refuses errors keyed on fields a form does not have."""
    form_class = modelform_factory(Layer, form=OnCallModelForm, fields=["name", "start"])
    daily = Layer(
        schedule=schedule(org),
        rotation_type=RotationType.DAILY,
        shift_length=timedelta(days=2),
    )
    form = form_class({"name": "Day", "start": "2026-11-02 09:00"}, instance=daily)

    assert not form.is_valid()
    assert form.non_field_errors() == [
        "Shift length: A shift cannot be longer than one turn of the rotation."
    ]


# --- overrides ------------------------------------------------------------------------------


def _new_override(
    index: int, user: User, start: datetime, end: datetime, **more: object
) -> dict[str, list[str]]:
    """POST fields of row `index` of the "new overrides" formset, typed as local wall-clock."""
    fields = {"user": user.pk, "start_0": f"{start:%Y-%m-%d}", "start_1": f"{start:%H:%M}"}
    fields |= {"end_0": f"{end:%Y-%m-%d}", "end_1": f"{end:%H:%M}", **more}
    return {f"overrides-2-{index}-{name}": [str(value)] for name, value in fields.items()}


JAN_7 = datetime(2030, 1, 7, tzinfo=BERLIN)


def test_override_added_on_the_schedule_page_goes_through_the_service(
    operator_client, operator, configured
):
    primary, _, (alice, _, carol) = configured
    data = _schedule_page(operator_client, primary)
    data |= _new_override(
        0,
        alice,
        JAN_7.replace(hour=10),
        JAN_7.replace(hour=18),
        replaces=carol.pk,
        reason="Dentist",
    )

    response = operator_client.post(_url("schedule", primary.pk), data)

    assert response.status_code == 302, errors_of(response)
    added = Override.objects.get(reason="Dentist")
    assert (added.user, added.replaces, added.created_by) == (alice, carol, operator)
    assert added.start == JAN_7.replace(hour=10)  # typed in the schedule's zone
    audit = AuditEvent.objects.get(action="schedule.override.created", target_id=str(added.pk))
    assert audit.actor == operator


def test_overlapping_override_is_refused_with_the_overlap_message(operator_client, configured):
    primary, _, (alice, _, _) = configured
    existing = Override.objects.get()
    start = existing.start.astimezone(BERLIN) + timedelta(hours=1)
    data = _schedule_page(operator_client, primary)
    data |= _new_override(0, alice, start, start + timedelta(hours=8))

    response = operator_client.post(_url("schedule", primary.pk), data)

    assert response.status_code == 200
    assert f"This overlaps override #{existing.pk}" in errors_of(response)
    assert Override.objects.count() == 1


def test_two_new_overrides_overlapping_each_other_are_refused(operator_client, configured):
    primary, _, (alice, bob, _) = configured
    data = _schedule_page(operator_client, primary)
    data |= _new_override(0, alice, JAN_7.replace(hour=10), JAN_7.replace(hour=18))
    data |= _new_override(1, bob, JAN_7.replace(hour=12), JAN_7.replace(hour=20))
    put(data, **{"overrides-2__TOTAL_FORMS": 2})

    response = operator_client.post(_url("schedule", primary.pk), data)

    assert "Two new overrides overlap" in errors_of(response)
    assert Override.objects.count() == 1


@pytest.mark.parametrize(
    ("stranger", "hours", "message"),
    [
        (False, (18, 10), "The end must be after the start."),
        (True, (10, 18), "This person is not a member of the schedule&#x27;s organization."),
    ],
)
def test_invalid_override_is_refused(
    operator_client, configured, other_org, stranger, hours, message
):
    primary, _, (alice, _, _) = configured
    someone = member(other_org) if stranger else alice
    data = _schedule_page(operator_client, primary)
    data |= _new_override(0, someone, JAN_7.replace(hour=hours[0]), JAN_7.replace(hour=hours[1]))

    response = operator_client.post(_url("schedule", primary.pk), data)

    assert response.status_code == 200
    assert message in errors_of(response)
    assert Override.objects.count() == 1


def test_deleting_an_override_on_the_schedule_page_is_audited(operator_client, configured):
    primary, _, _ = configured
    existing = Override.objects.get()
    data = _schedule_page(operator_client, primary)
    assert data["overrides-0-id"] == [str(existing.pk)]
    put(data, overrides__0__DELETE="on")

    response = operator_client.post(_url("schedule", primary.pk), data)

    assert response.status_code == 302, errors_of(response)
    assert not Override.objects.exists()
    audit = AuditEvent.objects.get(action="schedule.override.deleted")
    assert audit.target_id == str(existing.pk)


# --- calendar feeds -------------------------------------------------------------------------


def test_feed_url_is_shown_once_and_only_a_hash_is_stored(operator_client, configured):
    primary, _, _ = configured
    data = page_form(operator_client.get(_url("calendarfeed") + "add/"), "calendarfeed_form")
    put(data, organization=primary.organization_id, schedule=primary.pk)

    response = operator_client.post(_url("calendarfeed") + "add/", data, follow=True)

    notice = next(str(m) for m in response.context["messages"] if "not be shown" in str(m))
    match = re.search(r"http://testserver/calendars/(okcal_[\w-]+)\.ics$", notice)
    assert match is not None
    token = match.group(1)
    feed = CalendarFeed.objects.get()
    assert calendar_feed_authenticate(token) == feed
    assert token not in feed.token_hash
    assert AuditEvent.objects.filter(action="calendar_feed.created").count() == 1
    change_page = operator_client.get(_url("calendarfeed", feed.pk)).text
    assert token not in change_page
    assert feed.token_hash not in change_page
    assert token not in operator_client.get(_url("calendarfeed")).text


def test_feed_for_both_a_schedule_and_a_person_is_refused(operator_client, configured):
    primary, _, (alice, _, _) = configured
    data = page_form(operator_client.get(_url("calendarfeed") + "add/"), "calendarfeed_form")
    put(data, organization=primary.organization_id, schedule=primary.pk, user=alice.pk)

    response = operator_client.post(_url("calendarfeed") + "add/", data)

    assert "Choose either a schedule or a person, not both." in errors_of(response)
    assert not CalendarFeed.objects.exists()


def test_revoke_action_revokes_feeds(operator_client, configured):
    primary, _, _ = configured
    operator_client.post(
        _url("calendarfeed") + "add/",
        {"organization": primary.organization_id, "schedule": primary.pk},
    )
    feed = CalendarFeed.objects.get()

    operator_client.post(_url("calendarfeed"), {"action": "revoke", "_selected_action": [feed.pk]})

    feed.refresh_from_db()
    assert feed.revoked_at is not None
    assert AuditEvent.objects.filter(action="calendar_feed.revoked").count() == 1


def test_swaps_and_handoff_notices_are_read_only(operator_client):
    assert operator_client.get(_url("shiftswap") + "add/").status_code == 403
    assert operator_client.get(_url("handoffnotice") + "add/").status_code == 403
