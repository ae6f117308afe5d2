"""The files a lab app is driven by: its spec, its target (bootstrap and topic), its status."""

from __future__ import annotations

from pathlib import Path

import pytest

from dr.errors import LabError
from dr.lab.appfiles import (
    AppPaths,
    AppSpec,
    AppStatus,
    Target,
    check_name,
    known_apps,
    load_spec,
    load_status,
    read_settled_target,
    read_target,
    save_spec,
    save_status,
    target_stamp,
    write_target,
)


def paths(tmp_path: Path, name: str = "shop") -> AppPaths:
    return AppPaths(tmp_path / "apps", name)


def test_a_target_written_reads_back_equal(tmp_path: Path) -> None:
    app = paths(tmp_path)
    write_target(app, Target("127.0.0.1:9092,127.0.0.1:9094", "orders"))

    assert read_target(app) == Target("127.0.0.1:9092,127.0.0.1:9094", "orders")
    assert app.bootstrap.read_text() == "127.0.0.1:9092,127.0.0.1:9094\n"
    assert app.topic.read_text() == "orders\n"


def test_a_missing_target_file_is_named_in_the_error(tmp_path: Path) -> None:
    app = paths(tmp_path)
    write_target(app, Target("127.0.0.1:9092", "orders"))
    app.topic.unlink()

    with pytest.raises(LabError, match=r"shop\.topic is missing"):
        read_target(app)


def test_an_empty_target_file_is_refused(tmp_path: Path) -> None:
    app = paths(tmp_path)
    write_target(app, Target("127.0.0.1:9092", "orders"))
    app.bootstrap.write_text("\n")

    with pytest.raises(LabError, match=r"shop\.bootstrap is empty"):
        read_target(app)


def test_rewriting_the_target_changes_its_stamp_even_with_the_same_length(tmp_path: Path) -> None:
    app = paths(tmp_path)
    write_target(app, Target("127.0.0.1:9092", "orders"))
    before = target_stamp(app)

    write_target(app, Target("127.0.0.1:9192", "orders"))

    assert target_stamp(app) != before


def test_a_settled_target_is_read_once_the_files_stop_changing(tmp_path: Path) -> None:
    app = paths(tmp_path)
    write_target(app, Target("127.0.0.1:9192", "primary.orders"))

    assert read_settled_target(app, settle_s=0.01) == Target("127.0.0.1:9192", "primary.orders")


def test_a_spec_saved_loads_back_equal(tmp_path: Path) -> None:
    app = paths(tmp_path)
    spec = AppSpec(name="shop", topic="orders", produce_rate=50.0, group="billing", pid=4242)

    save_spec(app, spec)

    assert load_spec(app) == spec


def test_loading_the_spec_of_an_app_never_started_names_the_app(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="no app 'ghost'"):
        load_spec(paths(tmp_path, "ghost"))


def test_a_status_saved_loads_back_equal_and_is_none_before_the_first(tmp_path: Path) -> None:
    app = paths(tmp_path)
    status = AppStatus("connected", "127.0.0.1:9092", "orders", 120, 0, 1, 1000)

    assert load_status(app) is None
    save_status(app, status)
    assert load_status(app) == status


def test_known_apps_are_the_specs_in_the_apps_directory(tmp_path: Path) -> None:
    for name in ("zeta", "alpha"):
        save_spec(paths(tmp_path, name), AppSpec(name=name, topic="orders", group="g"))
    (tmp_path / "apps" / "notes.txt").write_text("not an app")

    assert known_apps(tmp_path / "apps") == ["alpha", "zeta"]
    assert known_apps(tmp_path / "nowhere") == []


@pytest.mark.parametrize("name", ["", "../etc", "a b", "-flag", "x" * 65])
def test_a_name_that_cannot_name_files_is_refused(name: str) -> None:
    with pytest.raises(LabError, match="is not usable"):
        check_name(name)


def test_a_plain_name_is_accepted() -> None:
    assert check_name("orders-app_2.v1") == "orders-app_2.v1"
