"""kafka-dr offsets: consumer group offsets translated across a MirrorMaker 2 flow."""

from __future__ import annotations

import click

from dr.cli.common import AppContext, echo_json, pass_app
from dr.mirror.offsets import translate_offsets


@click.group()
def offsets() -> None:
    """Consumer group offsets across clusters."""


@offsets.command()
@click.option("--group", required=True, help="Consumer group.")
@click.option("--from", "source", required=True, help="Cluster the group consumed from.")
@click.option("--to", "target", required=True, help="Cluster the group will consume from.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def translate(app: AppContext, group: str, source: str, target: str, as_json: bool) -> None:
    """The offsets GROUP should use on --to, from MirrorMaker 2's latest checkpoints."""
    result = translate_offsets(app.config().settings, group, source, target)
    if as_json:
        echo_json(
            {
                "group": result.group,
                "partitions": [
                    {
                        "topic": p.topic,
                        "partition": p.partition,
                        "offset": p.offset,
                        "upstream_offset": p.upstream_offset,
                        "checkpoint_age_seconds": round(p.checkpoint_age_seconds, 3),
                    }
                    for p in result.partitions
                ],
                "missing": [{"topic": t, "partition": p} for t, p in result.missing],
            }
        )
        return
    click.echo(f"group {group}: {source} -> {target}")
    for p in result.partitions:
        click.echo(
            f"  {p.topic}-{p.partition}: offset {p.offset} (upstream {p.upstream_offset}, "
            f"checkpoint {p.checkpoint_age_seconds:.0f}s old)"
        )
    for topic, partition in result.missing:
        click.secho(f"  {topic}-{partition}: no checkpoint yet", fg="yellow")
