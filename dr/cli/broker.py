"""kafka-dr broker: procedures on one broker of a cluster."""

from __future__ import annotations

import click


@click.group()
def broker() -> None:
    """Broker procedures: add, remove (and more)."""
