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
from dr.cli.lazy import LazyCommand, LazyGroup
from dr.errors import DrError, Interrupted
from dr.log import configure, redact_text

# Every subcommand, imported only when it runs or shows its own help (dr.cli.lazy).
COMMANDS = {
    "acls": LazyCommand("dr.cli.acls", "acls", "The Kafka ACLs kafka-dr and MirrorMaker 2 need."),
    "backup": LazyCommand(
        "dr.cli.backup",
        "backup",
        "Back up topics to S3 or a local store; inspect, verify and prune backups.",
    ),
    "broker": LazyCommand(
        "dr.cli.broker",
        "broker",
        "Broker procedures: restart (rolling), replace (a lost disk or host), add, remove.",
    ),
    "check": LazyCommand(
        "dr.cli.check",
        "check",
        "Check every cluster, store, tool and secret the config names: clusters reachable and "
        "authenticated with the ACLs kafka-dr needs and a KRaft quorum, stores writable with a "
        "working lock, Java and the Kafka jars, MirrorMaker, the daemon's listen address, "
        "secret files.",
    ),
    "config": LazyCommand(
        "dr.cli.config", "config", "Check the configuration, or print a documented example."
    ),
    "cutover": LazyCommand(
        "dr.cli.playbook",
        "cutover",
        "Planned move of clients to a replica cluster, nothing lost or repeated; "
        "'cutover rollback RUN_ID' takes them back.",
    ),
    "daemon": LazyCommand(
        "dr.cli.daemon",
        "daemon",
        "Run the backup jobs and drills on their schedules; serve /metrics and /healthz until "
        "SIGTERM.",
    ),
    "drill": LazyCommand(
        "dr.cli.drill",
        "drill",
        "DR drills: prove that recovery works and how fast, and keep signed evidence.",
    ),
    "failback": LazyCommand(
        "dr.cli.playbook",
        "failback",
        "Move clients back to the cluster a failover left, once it has returned: what it held "
        "that never reached the replicas is archived, what was written meanwhile is copied back.",
    ),
    "failover": LazyCommand(
        "dr.cli.playbook", "failover", "Move clients from a lost cluster to its replica."
    ),
    "lab": LazyCommand(
        "dr.cli.lab",
        "lab",
        "A local lab: KRaft clusters 'primary' and 'dr' and MirrorMaker 2, from Kafka jars.",
    ),
    "mirror": LazyCommand(
        "dr.cli.mirror",
        "mirror",
        "MirrorMaker 2 between clusters: dedicated processes or Kafka Connect.",
    ),
    "offsets": LazyCommand("dr.cli.offsets", "offsets", "Consumer group offsets across clusters."),
    "playbook": LazyCommand(
        "dr.cli.playbook", "playbook", "Runs of playbooks (failover...): list, show, resume."
    ),
    "reassign": LazyCommand(
        "dr.cli.reassign", "reassign", "Partition reassignments in progress: status, cancel."
    ),
    "restore": LazyCommand(
        "dr.cli.restore", "restore", "Restore backup BACKUP_ID (or 'latest') onto cluster --to."
    ),
    "rpo": LazyCommand(
        "dr.cli.rpo",
        "rpo",
        "Recovery point: lag of each mirror flow and backup job against the RPO objective.",
    ),
    "snapshot": LazyCommand(
        "dr.cli.snapshot",
        "snapshot",
        "Log-dir snapshots of a cluster's nodes, and their restore after a total loss.",
    ),
    "status": LazyCommand("dr.cli.status", "status", "Health of each cluster."),
}


class KafkaDrGroup(LazyGroup):
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
            if interrupted():  # a command that reports its own interruption (a drill)
                fail_interrupted(debug=debug)
            sys.exit(exc.exit_code)
        except Interrupted:
            fail_interrupted(debug=debug)
        except DrError as exc:
            fail(exc, debug=debug)
        except KeyboardInterrupt:
            fail_interrupted(debug=debug)
        except Exception as exc:  # the last line of defence: one line, never a traceback
            fail_unexpectedly(exc, debug=debug)
        if interrupted():  # Ctrl-C/SIGTERM turned into an error a command caught: 130/143
            fail_interrupted(debug=debug)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(
    "kafka-dr",
    cls=KafkaDrGroup,
    lazy_commands=COMMANDS,
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
