"""kafka-dr daemon: run the scheduled backups and drills and serve /metrics and /healthz."""

from __future__ import annotations

import click
from click.core import ParameterSource

from dr.cli.common import AppContext, pass_app
from dr.log import configure


@click.command()
@pass_app
def daemon(app: AppContext) -> None:
    """Run the backup jobs and drills on their schedules; serve /metrics and /healthz until SIGTERM.

    Also samples RPO and the health of the clusters and MirrorMaker for /metrics, and runs the
    preflight of `kafka-dr check` at start-up (a failed check is logged and exported, never
    fatal). Logs JSON at level info unless --log-format or --log-level is given.
    """
    # Imported here: the backup runner's Kafka and S3 clients are for this command only.
    from functools import partial

    from dr.daemon import run_daemon
    from dr.daemon.probes import Probes
    from dr.preflight import run_preflight

    _configure_daemon_logging(click.get_current_context().find_root())
    loaded = app.config()
    # The preflight beside a running daemon: its own listen address is taken (by itself), and
    # the config file it was loaded from says which secrets come from files.
    preflight = partial(run_preflight, config_path=loaded.path, check_listen=False)
    run_daemon(loaded.settings, probes=Probes(preflight=preflight))


def _configure_daemon_logging(root: click.Context) -> None:
    # A daemon's log is read by a collector, and its outcomes are info events.
    explicit = {ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT}
    level = root.params.get("log_level", "warning")
    fmt = root.params.get("log_format", "auto")
    if root.get_parameter_source("log_level") not in explicit:
        level = "info"
    if root.get_parameter_source("log_format") not in explicit:
        fmt = "json"
    configure(level=level, fmt=fmt)
