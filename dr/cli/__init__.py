"""The kafka-dr command line: global options, error handling, and the command groups."""

from __future__ import annotations

import sys
from typing import Any

import click

from dr import __version__
from dr.cli.common import AppContext
from dr.errors import DrError, Interrupted
from dr.log import configure, redact_text


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="kafka-dr")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $KAFKA_DR_CONFIG, then ./kafka-dr.yaml).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="warning",
    show_default=True,
    help="Log level; 'debug' also prints tracebacks.",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "console", "json"]),
    default="auto",
    show_default=True,
    help="Console on a TTY, JSON otherwise, unless set.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, log_level: str, log_format: str) -> None:
    """kafka-dr: backup, replication and disaster recovery for Apache Kafka."""
    configure(level=log_level, fmt=log_format)
    ctx.obj = AppContext(config_path=config_path, debug=log_level == "debug")


def _register() -> None:
    from dr.cli import backup as backup_cmd
    from dr.cli import broker as broker_cmd
    from dr.cli import check as check_cmd
    from dr.cli import config as config_cmd
    from dr.cli import daemon as daemon_cmd
    from dr.cli import drill as drill_cmd
    from dr.cli import lab as lab_cmd
    from dr.cli import mirror as mirror_cmd
    from dr.cli import offsets as offsets_cmd
    from dr.cli import playbook as playbook_cmd
    from dr.cli import reassign as reassign_cmd
    from dr.cli import restore as restore_cmd
    from dr.cli import rpo as rpo_cmd
    from dr.cli import snapshot as snapshot_cmd
    from dr.cli import status as status_cmd

    cli.add_command(backup_cmd.backup)
    broker_cmd.broker.add_command(reassign_cmd.broker_add)
    broker_cmd.broker.add_command(reassign_cmd.broker_remove)
    cli.add_command(broker_cmd.broker)
    cli.add_command(check_cmd.check)
    cli.add_command(config_cmd.config)
    cli.add_command(daemon_cmd.daemon)
    cli.add_command(drill_cmd.drill)
    cli.add_command(lab_cmd.lab)
    cli.add_command(mirror_cmd.mirror)
    cli.add_command(offsets_cmd.offsets)
    cli.add_command(playbook_cmd.failover)
    cli.add_command(playbook_cmd.failback)
    cli.add_command(playbook_cmd.cutover)
    cli.add_command(playbook_cmd.playbook)
    cli.add_command(reassign_cmd.reassign)
    cli.add_command(restore_cmd.restore)
    cli.add_command(rpo_cmd.rpo)
    cli.add_command(snapshot_cmd.snapshot)
    cli.add_command(status_cmd.status)


_register()


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the console script; turns every DrError into one line and an exit code."""
    debug = "--log-level=debug" in (argv or sys.argv) or _debug_flag(argv or sys.argv)
    try:
        # Without standalone mode click returns the code of a raised Exit instead of exiting.
        code = cli.main(args=argv, prog_name="kafka-dr", standalone_mode=False)
    except click.exceptions.Abort:
        _fail(Interrupted("interrupted"), debug)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except DrError as exc:
        _fail(exc, debug)
    except KeyboardInterrupt:
        _fail(Interrupted("interrupted"), debug)
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if debug:
            _print_traceback(exc)
        message = redact_text(f"unexpected error: {type(exc).__name__}: {exc}")
        click.echo(f"error: {message} (run with --log-level debug for details)", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def _debug_flag(argv: list[str]) -> bool:
    for i, arg in enumerate(argv):
        if arg == "--log-level" and i + 1 < len(argv) and argv[i + 1] == "debug":
            return True
    return False


def _fail(exc: DrError, debug: bool) -> None:
    if debug:
        _print_traceback(exc)
    click.echo(f"error: {redact_text(exc.message)}", err=True)
    sys.exit(exc.exit_code)


def _print_traceback(exc: BaseException) -> None:
    import traceback

    text = "".join(traceback.format_exception(exc))
    click.echo(redact_text(text), err=True, nl=False)
