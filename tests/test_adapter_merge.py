"""Merging our adapter rules into a shared rule list: others' rules survive in place, ours are kept current,
a foreign rule serving one of our metric names is refused. Expectations are written out by hand."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import variant_stack
from tests.kube.shared_cluster import FOREIGN_RULE, OUR_RULE, SECOND_FOREIGN_RULE
from tritonobs.core.render import adapter_rules
from tritonobs.core.render.adapter_merge import RuleConflict, merge, owner, owner_filter

WHERE = "Helm release monitoring/prometheus-adapter rules.custom"


def rule(name: str, stack: str | None = None, query: str = "x") -> dict[str, Any]:
    r: dict[str, Any] = {"seriesQuery": query, "name": {"matches": "^x$", "as": name}, "metricsQuery": "q"}
    if stack:
        r["seriesFilters"] = [{"isNot": f"^tritonobs/part-of={stack}$"}]
    return r


def test_the_example_rule_carries_this_stacks_mark() -> None:
    (ours,) = adapter_rules.rules(variant_stack("example"))
    assert ours == OUR_RULE
    assert owner(ours) == "triton-vllm"


def test_mark_roundtrips_a_dotted_stack_name_and_matches_no_metric_name() -> None:
    assert owner_filter("team.a-1") == {"isNot": r"^tritonobs/part-of=team\.a-1$"}
    assert owner({"seriesFilters": [{"is": "^x$"}, owner_filter("team.a-1")]}) == "team.a-1"
    assert owner({"seriesFilters": [{"isNot": "^tritonobs_.*$"}]}) is None and owner(FOREIGN_RULE) is None


def test_foreign_rules_stay_in_place_and_ours_is_appended() -> None:
    live = [FOREIGN_RULE, SECOND_FOREIGN_RULE]
    got = merge(copy.deepcopy(live), [OUR_RULE], "triton-vllm", WHERE)
    assert got.rules == [FOREIGN_RULE, SECOND_FOREIGN_RULE, OUR_RULE]
    assert (got.added, got.updated, got.removed, got.kept, got.changed) == (["tritonobs_waiting_requests"], [], [], 2, True)
    again = merge(got.rules, [OUR_RULE], "triton-vllm", WHERE)
    assert again.rules == got.rules and not again.changed and again.summary() == "2 rule(s) of others kept"


def test_ours_is_updated_where_it_stands_and_a_dropped_signal_removed() -> None:
    stale = rule("tritonobs_waiting_requests", "triton-vllm", query="old")
    retired = rule("tritonobs_ttft_p90", "triton-vllm")
    duplicate = rule("tritonobs_waiting_requests", "triton-vllm", query="dup")
    live = [stale, FOREIGN_RULE, retired, SECOND_FOREIGN_RULE, duplicate]
    got = merge(live, [OUR_RULE], "triton-vllm", WHERE)
    assert got.rules == [OUR_RULE, FOREIGN_RULE, SECOND_FOREIGN_RULE]
    assert got.updated == ["tritonobs_waiting_requests"]
    assert got.removed == ["tritonobs_ttft_p90", "tritonobs_waiting_requests"]
    assert got.summary() == (
        "1 updated (tritonobs_waiting_requests); 2 removed (tritonobs_ttft_p90, tritonobs_waiting_requests); "
        "2 rule(s) of others kept"
    )


def test_another_stacks_rules_are_foreign_even_with_our_prefix() -> None:
    theirs = rule("tritonobs_inflight_requests", "other-stack")
    got = merge([theirs], [OUR_RULE], "triton-vllm", WHERE)
    assert got.rules == [theirs, OUR_RULE] and got.kept == 1


def test_no_rules_of_ours_left_when_the_stack_renders_none() -> None:
    got = merge([FOREIGN_RULE, OUR_RULE], [], "triton-vllm", WHERE)
    assert got.rules == [FOREIGN_RULE] and got.removed == ["tritonobs_waiting_requests"]


@pytest.mark.parametrize(
    ("clash", "whose"),
    [
        (rule("tritonobs_waiting_requests", query='vllm:num_requests_waiting{namespace="team-b"}'),
         "not marked as tritonobs'"),
        (rule("tritonobs_waiting_requests", "other-stack"), "tritonobs stack 'other-stack''s"),
    ],
)
def test_a_foreign_rule_with_one_of_our_names_is_refused(clash: dict[str, Any], whose: str) -> None:
    live = [FOREIGN_RULE, clash]
    with pytest.raises(RuleConflict) as e:
        merge(live, [OUR_RULE], "triton-vllm", WHERE)
    assert f"{WHERE}[1] serves tritonobs_waiting_requests too ({whose})" in str(e.value)
    assert "Nothing applied" in str(e.value)
    assert e.value.exit_code == 2
    assert live == [FOREIGN_RULE, clash]  # the input is left alone


def test_an_unmarked_copy_of_our_rule_is_adopted() -> None:
    """What tritonobs rendered before rules carried the mark: identical but for it."""
    legacy = {k: v for k, v in OUR_RULE.items() if k != "seriesFilters"}
    got = merge([legacy, FOREIGN_RULE], [OUR_RULE], "triton-vllm", WHERE)
    assert got.rules == [OUR_RULE, FOREIGN_RULE]
    assert got.adopted == ["tritonobs_waiting_requests"] and got.updated == [] and got.changed
