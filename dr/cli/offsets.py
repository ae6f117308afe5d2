"""kafka-dr offsets: consumer group offsets translated across a MirrorMaker 2 flow."""

from __future__ import annotations

from typing import Any

import click

from dr.cli.common import AppContext, echo_json, pass_app
from dr.mirror.offsets import translate_offsets
from dr.mirror.translate import TranslatedOffset, TranslationResult


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
    """The offsets GROUP should use on --to, from MirrorMaker 2's latest checkpoints.

    Exits 1 when no partition of the group can be translated (each is listed as missing)."""
    result = translate_offsets(app.config().settings, group, source, target)
    if as_json:
        echo_json(translation_json(result))
    else:
        print_translation(result, source, target)
    if not result.partitions:
        raise click.exceptions.Exit(1)


def print_translation(result: TranslationResult, source: str, target: str) -> None:
    """The translation for people: one line per partition, translated or missing."""
    group = result.group
    click.echo(f"group {group}: {source} -> {target}")
    if result.source_unreachable is not None:
        age = result.newest_checkpoint_age_seconds
        click.secho(
            f"  WARNING: {result.source_unreachable}; this translation rests on the last "
            "checkpoints"
            + ("" if age is None else f" (the newest is {age:.0f}s old)")
            + ": commits made since are not in it",
            fg="yellow",
        )
    for p in result.partitions:
        click.echo(f"  {p.topic}-{p.partition}: offset {p.offset} ({_basis(p)})")
    for m in result.missing:
        click.secho(f"  {m.topic}-{m.partition}: missing: {m.reason}", fg="yellow")
    if not result.partitions:
        click.echo(
            f"error: nothing to translate for group {group}: no partition has a translation",
            err=True,
        )


def translation_json(result: TranslationResult) -> dict[str, Any]:
    """The documented --json shape of `offsets translate`."""
    return {
        "group": result.group,
        "source_reachable": result.source_unreachable is None,
        "source_unreachable": result.source_unreachable,
        "newest_checkpoint_age_seconds": _round(result.newest_checkpoint_age_seconds),
        "partitions": [
            {
                "topic": p.topic,
                "partition": p.partition,
                "offset": p.offset,
                "upstream_offset": p.upstream_offset,
                "basis": p.basis,
                "checkpoint_age_seconds": _round(p.checkpoint_age_seconds),
                "source_committed": p.source_committed,
                "checkpoint_upstream_offset": p.checkpoint_upstream_offset,
                "max_redelivered": p.max_redelivered,
            }
            for p in result.partitions
        ],
        "missing": [
            {
                "topic": m.topic,
                "partition": m.partition,
                "source_committed": m.source_committed,
                "kind": m.kind,
                "reason": m.reason,
            }
            for m in result.missing
        ],
    }


def _basis(p: TranslatedOffset) -> str:
    if p.basis == "offset-sync":
        stale = (
            ""
            if p.checkpoint_upstream_offset is None
            else f", the checkpoint of {p.checkpoint_upstream_offset} is stale"
        )
        return (
            f"commit {p.upstream_offset} through an offset-sync{stale}; "
            f"re-reads at most {p.max_redelivered} records"
        )
    age = f"checkpoint {p.checkpoint_age_seconds:.0f}s old"
    if p.source_committed is None:
        return f"upstream {p.upstream_offset}, {age}"
    return f"commit {p.upstream_offset}, {age}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
