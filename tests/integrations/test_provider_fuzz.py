"""Every registered provider parser, over random JSON: events or InvalidPayload, nothing else.

A parser that raises anything else would be a 500 for a provider's retry loop to hammer.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.sources.common import InvalidPayload
from integrations.sources.registry import MODULES, available, provider

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=25,
)


def _mutations(sample: dict) -> st.SearchStrategy:
    """The provider's own sample with one value swapped for random JSON: near misses."""
    if not sample:
        return json_values
    keys = sorted(sample)
    return st.builds(lambda key, value: {**sample, key: value}, st.sampled_from(keys), json_values)


def test_every_listed_provider_module_exists():
    assert sorted(p.kind for p in available()) == sorted(MODULES)


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_random_json_never_breaks_the_parser(kind):
    source = provider(kind)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=json_values | _mutations(source.sample))
    def check(body):
        outcome: list | InvalidPayload
        try:
            outcome = source.parse(body, {})
        except InvalidPayload as refused:
            outcome = refused
        if isinstance(outcome, InvalidPayload):
            assert outcome.errors
            assert all(isinstance(message, str) and message for message in outcome.errors)
        else:
            assert isinstance(outcome, list)

    check()


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_the_sample_parses(kind):
    source = provider(kind)
    assert source.sample, f"{kind} has no sample for the test console"
    assert isinstance(source.parse(source.sample, {}), list)
