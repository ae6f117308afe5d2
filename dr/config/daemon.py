"""The daemon section: where the daemon serves /metrics and /healthz, and how often it samples."""

from __future__ import annotations

from pydantic import Field, field_validator

from dr.config.base import Model


class DaemonSettings(Model):
    """The daemon's HTTP endpoint (/metrics, /healthz) and sampling."""

    listen: str = Field(
        default="127.0.0.1:9187",
        description="host:port for /metrics and /healthz.",
        examples=["0.0.0.0:9187"],
    )
    rpo_sample_interval_s: float = Field(
        default=60.0, gt=0, description="How often the daemon samples RPO into the state store."
    )

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        return checked_listen(value)


def checked_listen(value: str) -> str:
    """value when it is host:port or [IPv6]:port with a port 0-65535 (0: any free port);
    raises ValueError saying what is wrong otherwise."""
    host, sep, port = value.strip().rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if not sep or not host or host == "[]":
        raise ValueError(f"'{value}' is not host:port (e.g. 127.0.0.1:9187, or 0.0.0.0:9187)")
    if ":" in host and not bracketed:
        raise ValueError(f"'{value}': write an IPv6 address in brackets, e.g. [::1]:9187")
    if not port.isdigit():
        raise ValueError(f"'{value}': the port '{port}' is not a number")
    if int(port) > 65535:
        raise ValueError(f"'{value}': port {int(port)} is out of range (0-65535)")
    return value
