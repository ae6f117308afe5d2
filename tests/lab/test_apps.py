"""Driving lab apps without starting one: the switch a hook makes, the list, the keys an app
uses across restarts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner

from dr.cli import cli
from dr.errors import LabError, UsageError
from dr.lab.app import SEQ_BLOCK, App
from dr.lab.appfiles import (
    AppPaths,
    AppSpec,
    AppStatus,
    Target,
    apps_dir,
    load_status,
    read_target,
    save_spec,
    save_status,
    write_target,
)
from dr.lab.apps import AppRequest, HookContext, hook_context, list_apps, start_app, stop_apps
from dr.lab.apps import switch_apps as switch
from dr.lab.ledger import LedgerEntry
from dr.lab.state import ClusterRecord, LabState, NodeRecord, save_state

PRIMARY = "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
DR = "127.0.0.1:9192"


def stopped_app(lab_dir: Path, name: str, *, topic: str = "orders", group: str = "g") -> AppPaths:
    """An app's files as `lab app start` leaves them, with no process behind them."""
    paths = AppPaths(apps_dir(lab_dir), name)
    save_spec(paths, AppSpec(name=name, topic=topic, produce_rate=50.0, group=group))
    write_target(paths, Target(PRIMARY, topic))
    return paths


# -- the hook context -------------------------------------------------------------------------


def test_a_hook_switch_takes_bootstrap_and_topics_from_the_json_on_stdin() -> None:
    stdin = json.dumps({"to_bootstrap": DR, "topics": {"orders": "primary.orders"}, "run_id": "7"})

    assert hook_context({}, stdin) == HookContext(DR, {"orders": "primary.orders"})


def test_with_an_empty_stdin_the_bootstrap_comes_from_the_environment_and_topics_keep_names() -> (
    None
):
    assert hook_context({"KAFKA_DR_TO_BOOTSTRAP": DR}, "") == HookContext(DR, {})


def test_options_given_by_hand_win_over_the_hook_context() -> None:
    stdin = json.dumps({"to_bootstrap": "elsewhere:9092", "topics": {"orders": "x"}})

    context = hook_context(
        {"KAFKA_DR_TO_BOOTSTRAP": "env:9092"},
        stdin,
        bootstrap=DR,
        topic_map='{"orders": "primary.orders"}',
    )

    assert context == HookContext(DR, {"orders": "primary.orders"})


def test_a_switch_with_nowhere_to_go_says_what_to_give() -> None:
    with pytest.raises(UsageError, match="no bootstrap servers to switch to: give --bootstrap"):
        hook_context({}, "")


@pytest.mark.parametrize(
    ("stdin", "topic_map", "message"),
    [
        ("{oops", None, "the hook context on stdin is not JSON"),
        ("[1, 2]", None, "the hook context on stdin is not a JSON object"),
        ("", '{"orders": 3}', "the topic map must be a JSON object of topic names"),
        ("", "orders=primary.orders", "--topic-map is not JSON"),
    ],
)
def test_a_malformed_context_is_refused_naming_where_it_came_from(
    stdin: str, topic_map: str | None, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        hook_context({"KAFKA_DR_TO_BOOTSTRAP": DR}, stdin, topic_map=topic_map)


# -- switching --------------------------------------------------------------------------------


def test_a_switch_points_every_app_at_the_new_cluster_and_maps_its_topic(tmp_path: Path) -> None:
    shop = stopped_app(tmp_path, "shop")
    audit = stopped_app(tmp_path, "audit", topic="audit-log")

    moved = switch(tmp_path, HookContext(DR, {"orders": "primary.orders"}))

    assert [m.name for m in moved] == ["audit", "shop"]
    assert read_target(shop) == Target(DR, "primary.orders")
    assert read_target(audit) == Target(DR, "audit-log")  # not in the map: keeps its name
    assert not any(m.running for m in moved)


def test_switching_back_maps_the_current_topic_name(tmp_path: Path) -> None:
    shop = stopped_app(tmp_path, "shop")
    switch(tmp_path, HookContext(DR, {"orders": "primary.orders"}))

    switch(tmp_path, HookContext(PRIMARY, {"primary.orders": "orders"}))

    assert read_target(shop) == Target(PRIMARY, "orders")


def test_a_switch_of_one_named_app_leaves_the_others(tmp_path: Path) -> None:
    shop = stopped_app(tmp_path, "shop")
    audit = stopped_app(tmp_path, "audit")

    switch(tmp_path, HookContext(DR, {}), ["shop"])

    assert read_target(shop).bootstrap == DR
    assert read_target(audit).bootstrap == PRIMARY


def test_a_switch_of_an_unknown_app_names_the_apps_there_are(tmp_path: Path) -> None:
    stopped_app(tmp_path, "shop")

    with pytest.raises(LabError, match=r"no app 'shpo' in .* \(apps: shop\)"):
        switch(tmp_path, HookContext(DR, {}), ["shpo"])


@pytest.fixture
def _logging_restored() -> Iterator[None]:
    """The command configures logging at level warning; later tests capture info events."""
    yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("_logging_restored")
def test_the_switch_command_reads_the_hook_context_and_prints_one_line_per_app(
    tmp_path: Path,
) -> None:
    shop = stopped_app(tmp_path, "shop")
    stdin = json.dumps({"to_bootstrap": DR, "topics": {"orders": "primary.orders"}})

    result = CliRunner().invoke(
        cli, ["lab", "app", "switch", "--dir", str(tmp_path), "--all"], input=stdin
    )

    assert result.exit_code == 0, result.output
    assert result.output == f"app shop: {PRIMARY} orders -> {DR} primary.orders (not running)\n"
    assert read_target(shop) == Target(DR, "primary.orders")


# -- listing, stopping, starting --------------------------------------------------------------


def test_the_list_counts_acked_and_consumed_records_from_the_ledger(tmp_path: Path) -> None:
    shop = stopped_app(tmp_path, "shop")
    save_status(shop, AppStatus("stopped", PRIMARY, "orders", 3, 0, 0, SEQ_BLOCK))
    entries = [
        LedgerEntry(event, f"shop-{i}", "orders", 0, i, PRIMARY, datetime.now(UTC))
        for event, i in (("acked", 0), ("acked", 1), ("acked", 2), ("consumed", 0))
    ]
    shop.ledger.write_text("".join(e.to_line() for e in entries))

    [view] = list_apps(tmp_path)

    assert (view.name, view.running, view.state) == ("shop", False, "stopped")
    assert (view.produced, view.acked, view.consumed) == (3, 3, 1)
    assert (view.bootstrap, view.topic, view.group) == (PRIMARY, "orders", "g")


def test_stopping_every_app_when_none_runs_stops_nothing(tmp_path: Path) -> None:
    stopped_app(tmp_path, "shop")

    assert stop_apps(tmp_path) == []


def test_an_app_that_neither_produces_nor_consumes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="needs --produce RATE, --consume GROUP or both"):
        start_app(tmp_path, AppRequest(name="idle"))


def test_starting_an_app_without_a_lab_says_how_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"no lab in .*: start one with 'kafka-dr lab up"):
        start_app(tmp_path, AppRequest(name="shop", group="billing"))


# -- the keys an app produces -----------------------------------------------------------------


class FakeSession:
    """Takes what the app produces; connected, never failing."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.topic_ready = True
        self.failed = 0
        self.keys: list[str] = []

    def produce(self, key: str) -> bool:
        self.keys.append(key)
        return True

    def unreachable_for(self) -> float:
        return 0.0


def test_an_app_produces_at_its_rate_with_ordered_keys(tmp_path: Path) -> None:
    paths = stopped_app(tmp_path, "shop")
    app = App(paths, AppSpec(name="shop", topic="orders", produce_rate=10.0))
    session = FakeSession(Target(PRIMARY, "orders"))

    next_due = app._produce_due(session, now=100.0, next_due=100.0)  # type: ignore[arg-type]
    next_due = app._produce_due(session, now=100.45, next_due=next_due)  # type: ignore[arg-type]

    assert session.keys == ["shop-0", "shop-1", "shop-2", "shop-3", "shop-4"]
    assert next_due == pytest.approx(100.5)


def test_an_app_started_again_never_reuses_a_key(tmp_path: Path) -> None:
    paths = stopped_app(tmp_path, "shop")
    spec = AppSpec(name="shop", topic="orders", produce_rate=10.0)
    first = FakeSession(Target(PRIMARY, "orders"))
    App(paths, spec)._produce_due(first, now=1.0, next_due=0.5)  # type: ignore[arg-type]

    again = FakeSession(Target(PRIMARY, "orders"))
    App(paths, spec)._produce_due(again, now=1.0, next_due=0.95)  # type: ignore[arg-type]

    assert not set(first.keys) & set(again.keys)
    assert again.keys == [f"shop-{SEQ_BLOCK}"]
    status = load_status(paths)
    assert status is not None and status.next_seq == 2 * SEQ_BLOCK


def test_an_app_moves_when_its_files_name_another_cluster_and_stays_otherwise(
    tmp_path: Path,
) -> None:
    paths = stopped_app(tmp_path, "shop")
    app = App(paths, AppSpec(name="shop", topic="orders", group="billing"))
    session = FakeSession(Target(PRIMARY, "orders"))

    stays = app._moved(session)  # type: ignore[arg-type]
    switch(tmp_path, HookContext(DR, {"orders": "primary.orders"}))
    moves = app._moved(session)  # type: ignore[arg-type]

    assert stays is None
    assert moves == Target(DR, "primary.orders")


def test_starting_an_app_on_a_cluster_that_is_down_says_how_to_start_it(tmp_path: Path) -> None:
    save_state(
        tmp_path,
        LabState(
            kafka_version="4.3.1",
            libs="/opt/kafka/libs",
            clusters={
                "primary": ClusterRecord(
                    "vtgyZdKwTJyOFmuEBiY-aQ",
                    (NodeRecord(1, 9092, 9093, str(tmp_path / "primary/node-1"), pid=None),),
                )
            },
        ),
    )

    with pytest.raises(LabError, match="cluster 'primary' is not running: start it with"):
        start_app(tmp_path, AppRequest(name="shop", group="billing"))
    assert not (tmp_path / "apps" / "shop.json").exists()
