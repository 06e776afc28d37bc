"""The shipped example policies: each valid, described, and usable as example:NAME."""

from __future__ import annotations

import pytest

from projections.errors import PolicyError
from projections.policy import load_policy
from projections.policy.examples import example_names, example_summaries


def test_every_example_is_a_valid_policy_with_a_description() -> None:
    summaries = dict(example_summaries())
    assert len(summaries) >= 10
    for name, description in summaries.items():
        policy = load_policy(f"example:{name}")
        assert policy.description == description and 10 < len(description) <= 300, name


def test_an_example_name_that_does_not_exist_names_the_ones_that_do() -> None:
    with pytest.raises(PolicyError) as missing:
        load_policy("example:guild-wid")
    assert missing.value.code == "POLICY_NOT_FOUND"
    assert "guild-wide" in str(missing.value) and "convlog policy examples" in str(missing.value)


def test_a_description_decides_no_grouping() -> None:
    plain = load_policy("example:guild-wide")
    other = plain.model_copy(update={"description": "something else entirely"})
    assert plain.grouping_fingerprint() == other.grouping_fingerprint()
    assert "per-chat" in example_names()
