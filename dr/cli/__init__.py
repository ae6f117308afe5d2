"""The kafka-dr command line: global options, error handling, and the command groups."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from dr import __version__
from dr.cli.common import AppContext, no_color
from dr.cli.exits import (
    fail,
    fail_interrupted,
    fail_unexpectedly,
    fail_with_usage,
    interrupted,
    interrupts_caught,
)
from dr.errors import DrError, Interrupted
from dr.log import configure, redact_text


class KafkaDrGroup(click.Group):
    """The kafka-dr command: every error, click's usage errors included, ends as one line
    ``error: ...`` and its exit code (dr.cli.exits), also when run through click's CliRunner."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        debug = _debug_flag(argv)
        try:
            # Without standalone mode click returns the code of a raised Exit instead of
            # exiting, and raises its usage errors for us to print.
            code = super().main(argv, prog_name or "kafka-dr", complete_var, False, **extra)
        except click.exceptions.Abort:
            fail_interrupted(debug=debug)
        except click.UsageError as exc:
            fail_with_usage(exc)
        except click.ClickException as exc:
            click.echo(f"error: {redact_text(exc.format_message())}", err=True)
            sys.exit(2)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except Interrupted:
            fail_interrupted(debug=debug)
        except DrError as exc:
            fail(exc, debug=debug)
        except KeyboardInterrupt:
            fail_interrupted(debug=debug)
        except Exception as exc:  # the last line of defence: one line, never a traceback
            fail_unexpectedly(exc, debug=debug)
        if interrupted():  # Ctrl-C was turned into an error a command caught: still 130
            fail_interrupted(debug=debug)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(
    "kafka-dr",
    cls=KafkaDrGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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
    if no_color():
        ctx.color = False  # every command's output below this context: no ANSI codes
    ctx.obj = AppContext(config_path=config_path, debug=log_level == "debug")


def _register() -> None:
    from dr.cli import acls as acls_cmd
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

    cli.add_command(acls_cmd.acls)
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
    """Entry point of the console script; turns every error into one line and an exit code."""
    with interrupts_caught():
        cli.main(args=argv, prog_name="kafka-dr")


def _debug_flag(argv: list[str]) -> bool:
    if "--log-level=debug" in argv:
        return True
    for i, arg in enumerate(argv):
        if arg == "--log-level" and i + 1 < len(argv) and argv[i + 1] == "debug":
            return True
    return False
