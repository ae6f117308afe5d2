"""Click's usage errors in kafka-dr's own form: one line `error: ...`, exit 2, with where a
global option goes when it was given after the command; colour only for a terminal that
wants it (NO_COLOR)."""

from __future__ import annotations

import io
import signal
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner, Result

from dr.cli import cli, main
from dr.log import configure, get_logger

ANSI = "\x1b["


def run(*args: str, color: bool = False, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), color=color, env=env)


def one_error_line(result: Result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("status", "--config", "x.yaml"), "kafka-dr --config FILE status"),
        (("backup", "run", "orders", "--config", "x.yaml"), "kafka-dr --config FILE backup run"),
        (("rpo", "status", "--log-level", "debug"), "kafka-dr --log-level LEVEL rpo status"),
    ],
)
def test_a_global_option_after_the_command_is_one_line_saying_where_it_goes(
    args: tuple[str, ...], hint: str
) -> None:
    result = run(*args)

    assert result.exit_code == 2
    option = args[-2]
    assert one_error_line(result).endswith(f"{option} goes before the command: {hint}")
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("bakup",), "No such command 'bakup'. Did you mean 'backup'?"),
        (("backup", "list", "--jbo"), "No such option '--jbo'"),
        (("backup", "run"), "Missing argument 'JOB'"),
        (("status", "--cluster"), "Option '--cluster' requires an argument"),
    ],
)
def test_a_usage_error_is_one_line_with_where_to_find_help(
    args: tuple[str, ...], said: str
) -> None:
    result = run(*args)

    assert result.exit_code == 2
    line = one_error_line(result)
    assert said in line and line.endswith("--help')"), line
    assert "Usage:" not in result.output


def test_a_command_group_without_its_command_shows_its_help() -> None:
    result = run("backup")

    assert result.exit_code == 2
    assert "Commands:" in result.stderr and "run" in result.stderr


def test_the_version_is_one_line_on_stdout() -> None:
    result = run("-V")

    assert result.exit_code == 0
    assert result.stdout.startswith("kafka-dr, version ")


@pytest.fixture
def colour_probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A command that prints in red, for as long as the test runs."""

    @click.command("colour-probe")
    def probe() -> None:
        click.secho("ALERT", fg="red", bold=True)

    monkeypatch.setitem(cli.commands, "colour-probe", probe)
    yield "colour-probe"


def test_a_terminal_gets_colour(colour_probe: str) -> None:
    result = run(colour_probe, color=True, env={"NO_COLOR": ""})

    assert ANSI in result.stdout


def test_no_color_turns_colour_off_even_on_a_terminal(colour_probe: str) -> None:
    result = run(colour_probe, color=True, env={"NO_COLOR": "1"})

    assert result.exit_code == 0
    assert result.stdout == "ALERT\n"


def test_output_that_is_not_a_terminal_gets_no_colour(colour_probe: str) -> None:
    result = run(colour_probe, color=False)

    assert result.stdout == "ALERT\n"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_color_turns_colour_off_in_the_console_log(monkeypatch: pytest.MonkeyPatch) -> None:
    coloured, plain = Terminal(), Terminal()
    configure(level="info", fmt="console", stream=coloured)
    get_logger("t").info("backup_done", job="orders")
    monkeypatch.setenv("NO_COLOR", "1")
    configure(level="info", fmt="console", stream=plain)
    get_logger("t").info("backup_done", job="orders")
    configure(level="warning", fmt="json")

    assert ANSI in coloured.getvalue()
    assert "backup_done" in plain.getvalue() and ANSI not in plain.getvalue()


def test_ctrl_c_in_a_command_is_one_line_and_exit_130(monkeypatch: pytest.MonkeyPatch) -> None:
    @click.command("interrupted-probe")
    def probe() -> None:
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.commands, "interrupted-probe", probe)

    result = run("interrupted-probe")

    assert result.exit_code == 130
    assert result.stderr.strip() == "error: interrupted"  # after the newline that ends ^C


def test_the_console_script_leaves_the_ctrl_c_handler_as_it_found_it() -> None:
    before = signal.getsignal(signal.SIGINT)

    with pytest.raises(SystemExit) as exited:
        main(["-V"])

    assert exited.value.code == 0
    assert signal.getsignal(signal.SIGINT) is before
