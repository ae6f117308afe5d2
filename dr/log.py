"""Logging set-up: structlog, console on a TTY and JSON otherwise, with secret redaction.

Secrets are redacted twice over: fields whose name looks like a secret are masked, and every
secret value that the config loader resolved (``${env:...}``, ``${file:...}``, password-like
client properties) is replaced wherever it appears in a logged string.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

MASK = "***"
_SECRET_KEY = re.compile(
    r"(password|secret|token|credential|jaas|private[._-]?key|api[._-]?key|key\.pem|keystore\.key)",
    re.I,
)

_known_secrets: set[str] = set()
_lock = threading.Lock()


def register_secrets(values: Iterable[str]) -> None:
    """Remember secret values so that they are masked wherever they would be logged."""
    with _lock:
        # Very short values would mask ordinary words; they are still masked by key name.
        _known_secrets.update(v for v in values if len(v) >= 4)


def is_secret_key(name: str) -> bool:
    """True when a setting of this name holds a secret (password, token, key...)."""
    return bool(_SECRET_KEY.search(name))


def known_secrets() -> tuple[str, ...]:
    """The secret values registered so far (to hand to a child process that logs too)."""
    with _lock:
        return tuple(_known_secrets)


def redact_text(text: str) -> str:
    """The text with every registered secret value replaced by ``***``."""
    with _lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if is_secret_key(key) and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


def _redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return {k: _redact_value(k, v) for k, v in event_dict.items()}


def configure(*, level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Set up structlog and the standard logging bridge.

    ``fmt`` is ``console``, ``json`` or ``auto`` (console on a TTY, JSON otherwise).
    """
    # structlog (and rich, under it) is imported on first use: `kafka-dr --help` needs neither.
    import structlog

    out = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty() and not os.environ.get("NO_COLOR"))
        if use_console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_processor,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=numeric, stream=out, force=True)


def get_logger(name: str) -> Any:
    """A structlog logger bound to the module name."""
    import structlog

    return structlog.get_logger(name)
