"""Pure parts of the chaos module: fault windows, marking operations, the kill plan and the
choice of pod. The injector itself runs against the local stack in tests/integration."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pytest_bindy_load.chaos import (
    FaultWindow,
    PodSelector,
    choose_victim,
    kill_plan,
    mark_chaos,
    operation_span,
    pod_ready,
)
from pytest_bindy_load.errors import ProfileError
from pytest_bindy_load.profiles import ChaosConfig, ChaosTarget
from pytest_bindy_load.results import ErrorKind, Operation, OperationResult

MS = 1_000_000
S = 1_000_000_000
T0 = 7_000 * S


def window(
    start_ms: float,
    end_ms: float,
    *,
    recovered: bool = True,
    target: ChaosTarget = ChaosTarget.OPERATOR,
) -> FaultWindow:
    return FaultWindow(
        target=target,
        namespace="bindy-system",
        pod="bindy-aaaaaa",
        replacement="bindy-bbbbbb" if recovered else None,
        started_ns=T0 + round(start_ms * MS),
        recovered_ns=T0 + round(end_ms * MS),
        recovered=recovered,
    )


def op(
    intended_ms: float,
    ready_ms: float | None,
    *,
    ack_ms: float | None = None,
    success: bool | None = None,
    chaos: bool = False,
) -> OperationResult:
    """An operation from ``intended_ms`` to ``ready_ms`` (absolute offsets from T0)."""
    intended = T0 + round(intended_ms * MS)
    ack = intended + MS if ack_ms is None else T0 + round(ack_ms * MS)
    return OperationResult(
        name="r",
        namespace="ns",
        kind="ARecord",
        operation=Operation.CREATE,
        intended_ns=intended,
        sent_ns=intended,
        acknowledged_ns=ack,
        ready_ns=None if ready_ms is None else T0 + round(ready_ms * MS),
        success=(ready_ms is not None) if success is None else success,
        error_kind=ErrorKind.NONE if ready_ms is not None else ErrorKind.NOT_READY,
        in_chaos_window=chaos,
    )


def pod(
    name: str,
    *,
    ready: bool = True,
    phase: str = "Running",
    deleting: bool = False,
    namespace: str = "bindy-system",
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{name}",
        "labels": {"app": "bindy"} if labels is None else labels,
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "metadata": meta,
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


# ---------------------------------------------------------------- FaultWindow


def test_a_window_contains_its_start_and_its_recovery_instant_but_nothing_outside() -> None:
    w = window(1000, 3000)
    assert w.contains(T0 + 1000 * MS)
    assert w.contains(T0 + 3000 * MS)
    assert w.contains(T0 + 2000 * MS)
    assert not w.contains(T0 + 1000 * MS - 1)
    assert not w.contains(T0 + 3000 * MS + 1)


def test_grace_extends_a_window_after_recovery_only() -> None:
    w = window(1000, 3000)
    assert w.contains(T0 + 4500 * MS, grace_s=2.0)
    assert not w.contains(T0 + 5000 * MS + 1, grace_s=2.0)
    assert not w.contains(T0 + 999 * MS, grace_s=2.0)


def test_recovery_seconds_are_from_the_delete_to_the_new_ready_pod() -> None:
    assert window(1000, 3500).recovery_s == pytest.approx(2.5)


def test_a_window_that_never_recovered_has_no_end_and_no_recovery_time() -> None:
    w = window(1000, 2000, recovered=False)
    assert w.recovery_s is None
    assert w.end_ns() == math.inf
    assert w.contains(T0 + 3600 * S)
    assert not w.contains(T0 + 999 * MS)


def test_the_report_form_carries_recovery_time_but_no_monotonic_stamps() -> None:
    report = window(0, 1500).to_report()
    assert report == {
        "target": "operator",
        "namespace": "bindy-system",
        "pod": "bindy-aaaaaa",
        "replacement": "bindy-bbbbbb",
        "recovered": True,
        "recovery_s": pytest.approx(1.5),
    }


# ---------------------------------------------------------------- marking


def test_operations_overlapping_a_window_plus_grace_are_marked_and_others_are_not() -> None:
    w = window(10_000, 12_000)
    results = [
        op(0, 9_000),  # ended before the kill
        op(9_000, 10_000),  # ended exactly at the kill
        op(9_000, 11_000),  # straddles the start
        op(10_500, 11_500),  # inside
        op(5_000, 20_000),  # spans the whole window
        op(13_000, 13_500),  # after recovery, inside the 2 s grace
        op(14_000, 14_500),  # starts exactly at the end of the grace
        op(14_001, 15_000),  # after the grace
    ]
    marked = mark_chaos(results, [w], grace_s=2.0)
    assert [r.in_chaos_window for r in marked] == [
        False,
        True,
        True,
        True,
        True,
        True,
        True,
        False,
    ]


def test_marking_returns_new_frozen_results_and_leaves_the_inputs_unchanged() -> None:
    original = op(10_500, 11_000)
    untouched = op(0, 100)
    marked = mark_chaos([original, untouched], [window(10_000, 12_000)], grace_s=0)
    assert marked[0] is not original
    assert marked[0].in_chaos_window
    assert not original.in_chaos_window
    assert marked[0].intended_ns == original.intended_ns
    assert marked[0].ready_ns == original.ready_ns
    assert marked[1] is untouched


def test_an_operation_already_marked_stays_marked_without_any_window() -> None:
    assert mark_chaos([op(0, 100, chaos=True)], [], grace_s=1.0)[0].in_chaos_window


def test_any_of_several_windows_marks_an_operation() -> None:
    windows = [window(1_000, 2_000), window(30_000, 31_000, target=ChaosTarget.BIND9)]
    marked = mark_chaos([op(30_500, 30_600), op(10_000, 11_000)], windows, grace_s=1.0)
    assert [r.in_chaos_window for r in marked] == [True, False]


def test_a_window_that_never_recovered_marks_every_later_operation() -> None:
    marked = mark_chaos(
        [op(500, 900), op(50_000, 60_000)], [window(1_000, 2_000, recovered=False)], grace_s=0
    )
    assert [r.in_chaos_window for r in marked] == [False, True]


def test_an_operation_that_never_got_ready_ends_at_its_last_stage_unless_told_its_wait() -> None:
    stuck = op(0, None, ack_ms=100)  # acknowledged, then timed out waiting for Ready
    assert operation_span(stuck) == (T0, T0 + 100 * MS)
    assert operation_span(stuck, wait_timeout_s=60) == (T0, T0 + 100 * MS + 60 * S)
    w = window(30_000, 31_000)
    assert not mark_chaos([stuck], [w], grace_s=0)[0].in_chaos_window
    assert mark_chaos([stuck], [w], grace_s=0, wait_timeout_s=60)[0].in_chaos_window


def test_the_wait_timeout_does_not_stretch_a_successful_operation() -> None:
    done = op(0, 1_000)
    assert operation_span(done, wait_timeout_s=60) == (T0, T0 + 1_000 * MS)


def test_an_operation_refused_before_it_was_sent_is_a_point_at_its_intended_start() -> None:
    refused = OperationResult(
        name="r",
        namespace="ns",
        kind="ARecord",
        operation=Operation.DELETE,
        intended_ns=T0 + 5 * S,
        error_kind=ErrorKind.CONNECTION,
    )
    assert operation_span(refused, wait_timeout_s=60) == (T0 + 5 * S, T0 + 5 * S)
    assert mark_chaos([refused], [window(5_000, 6_000)], grace_s=0)[0].in_chaos_window


def test_a_negative_grace_is_refused() -> None:
    with pytest.raises(ProfileError, match=r"grace_s must be >= 0"):
        mark_chaos([], [], grace_s=-1)


# ---------------------------------------------------------------- the kill plan


def test_kills_cycle_through_the_targets_in_order() -> None:
    config = ChaosConfig(targets=(ChaosTarget.OPERATOR, ChaosTarget.BIND9), kills=5)
    assert kill_plan(config) == (
        ChaosTarget.OPERATOR,
        ChaosTarget.BIND9,
        ChaosTarget.OPERATOR,
        ChaosTarget.BIND9,
        ChaosTarget.OPERATOR,
    )


def test_one_target_is_killed_every_time() -> None:
    assert kill_plan(ChaosConfig(targets=(ChaosTarget.BIND9,), kills=3)) == (ChaosTarget.BIND9,) * 3


def test_targets_given_as_plain_strings_are_taken_as_chaos_targets() -> None:
    config = ChaosConfig(targets=("bind9", "operator"), kills=2)  # type: ignore[arg-type]
    plan = kill_plan(config)
    assert plan == (ChaosTarget.BIND9, ChaosTarget.OPERATOR)
    assert all(type(t) is ChaosTarget for t in plan)


def test_disabled_chaos_plans_no_kill() -> None:
    assert kill_plan(ChaosConfig(enabled=False, kills=4)) == ()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (ChaosConfig(targets=()), r"chaos.targets is empty"),
        (
            ChaosConfig(targets=(ChaosTarget.BIND9, ChaosTarget.BIND9)),
            r"chaos.targets repeats a target",
        ),
        (
            ChaosConfig(targets=("pod",)),  # type: ignore[arg-type]
            r"chaos.targets: 'pod' is not a valid ChaosTarget; use operator, bind9",
        ),
        (ChaosConfig(kills=0), r"chaos.kills must be >= 1, got 0"),
        (ChaosConfig(interval_s=0), r"chaos.interval_s must be > 0"),
        (ChaosConfig(recovery_timeout_s=-1), r"chaos.recovery_timeout_s must be > 0"),
    ],
)
def test_a_hand_built_config_that_makes_no_sense_is_refused_in_one_line(
    config: ChaosConfig, message: str
) -> None:
    with pytest.raises(ProfileError, match=message) as info:
        kill_plan(config)
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- which pod


def test_a_pod_is_ready_only_when_running_with_ready_true_and_not_terminating() -> None:
    assert pod_ready(pod("a"))
    assert not pod_ready(pod("a", ready=False))
    assert not pod_ready(pod("a", phase="Pending"))
    assert not pod_ready(pod("a", deleting=True))
    assert not pod_ready({"metadata": {"name": "a"}})  # freshly created, no status yet


def test_the_victim_is_a_ready_pod_before_a_pending_one_then_by_name() -> None:
    pods = [pod("c"), pod("a", ready=False), pod("b")]
    victim = choose_victim(pods)
    assert victim is not None
    assert victim["metadata"]["name"] == "b"


def test_the_lease_holder_is_killed_before_a_standby() -> None:
    victim = choose_victim([pod("a"), pod("z")], leader="z")
    assert victim is not None
    assert victim["metadata"]["name"] == "z"


def test_a_terminating_pod_is_never_chosen_and_only_terminating_pods_give_none() -> None:
    victim = choose_victim([pod("a", deleting=True), pod("b", ready=False)], leader="a")
    assert victim is not None
    assert victim["metadata"]["name"] == "b"
    assert choose_victim([pod("a", deleting=True)]) is None
    assert choose_victim([]) is None


def test_a_selector_matches_its_labels_in_its_namespace_only() -> None:
    sel = PodSelector(namespace="bindy-system", labels={"app": "bind9", "instance": "i0"})
    assert sel.label_selector == "app=bind9,instance=i0"
    assert str(sel) == "app=bind9,instance=i0 in namespace bindy-system"
    assert sel.matches(pod("p", labels={"app": "bind9", "instance": "i0", "extra": "x"}))
    assert not sel.matches(pod("p", labels={"app": "bind9", "instance": "i1"}))
    assert not sel.matches(pod("p", labels={"app": "bind9"}))
    assert not sel.matches(pod("p", namespace="default", labels={"app": "bind9", "instance": "i0"}))
