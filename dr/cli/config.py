"""`kafka-dr config`: check a configuration file, or print the documented example."""

from __future__ import annotations

import click

from dr.cli.common import AppContext, echo_json, pass_app
from dr.config import load_config
from dr.config.example import example_config
from dr.errors import ConfigError
from dr.log import redact_text


@click.group("config")
def config() -> None:
    """Check the configuration, or print a documented example."""


@config.command("validate")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@pass_app
def validate(app: AppContext, file: str | None, as_json: bool) -> None:
    """Check a config file and list every problem in it.

    FILE defaults to --config, then $KAFKA_DR_CONFIG, then ./kafka-dr.yaml. Exits 2 when the
    config is invalid.
    """
    try:
        loaded = load_config(file or app.config_path)
    except ConfigError as exc:
        problems = [redact_text(problem) for problem in exc.problems]
        if as_json:
            echo_json({"valid": False, "config": exc.source, "problems": problems})
        else:
            # Every problem, not just the first: one run shows everything there is to fix.
            for problem in problems:
                click.echo(f"error: config {exc.source}: {problem}", err=True)
        raise click.exceptions.Exit(2) from None
    settings = loaded.settings
    flows = len(settings.mirror.flows) if settings.mirror else 0
    if as_json:
        echo_json(
            {
                "valid": True,
                "config": str(loaded.path),
                "clusters": sorted(settings.clusters),
                "storage": sorted(settings.storage),
                "mirror_flows": [f.name for f in settings.mirror.flows] if settings.mirror else [],
                "backups": sorted(settings.backups),
            }
        )
        return
    click.echo(
        f"config {loaded.path} is valid: {_count(len(settings.clusters), 'cluster')}, "
        f"{_count(len(settings.storage), 'storage target')}, {_count(flows, 'mirror flow')}"
    )


@config.command("example")
def example() -> None:
    """Print a documented sample config.

    Every key carries its description from the schema; set the environment variables named in
    its header before validating it.
    """
    click.echo(example_config(), nl=False)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
