"""How a command ends: every error as one line (``error: ...``) and its exit code, whether
kafka-dr or click raised it; and Ctrl-C, which ends the command promptly with 130.

Exit codes (dr.errors): 0 success, 1 a check found a problem, 2 an error, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

import click

from dr.errors import DrError, Interrupted
from dr.log import redact_text

USAGE_EXIT = 2
# After Ctrl-C, cleanup (releasing a lease, journaling the step, removing a temporary file)
# has this long before the process ends anyway: a thread blocked in a client library's request
# cannot be interrupted, and must not hold the exit. A second Ctrl-C ends it at once.
INTERRUPT_GRACE_S = 10.0
# Still running this long after Ctrl-C: say that cleanup is under way.
CLEANUP_NOTICE_S = 1.0
# Options of the kafka-dr command itself, and what each takes (for the hint when one is given
# after a subcommand, where click does not know it).
GLOBAL_OPTIONS = {"--config": "FILE", "--log-level": "LEVEL", "--log-format": "FORMAT"}

_interrupted = threading.Event()
_grace_s = [INTERRUPT_GRACE_S]


def usage_line(exc: click.UsageError) -> str:
    """A click usage error as one line: what is wrong, then how to get help or, for a global
    option given after the command, where it goes."""
    ctx = exc.ctx
    command = ctx.command_path if ctx is not None else "kafka-dr"
    message = " ".join(exc.format_message().split())
    option = getattr(exc, "option_name", None)
    if isinstance(exc, click.NoSuchOption) and option in GLOBAL_OPTIONS and ctx is not None:
        root = ctx.find_root().command_path
        rest = command.removeprefix(root).strip()
        return (
            f"{message} {option} goes before the command: "
            f"{root} {option} {GLOBAL_OPTIONS[option]} {rest}".rstrip()
        )
    return f"{message} (see '{command} --help')"


def fail_with_usage(exc: click.UsageError) -> NoReturn:
    """Print a usage error in one line (the help for a bare command group) and exit 2."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        exc.show()  # a group given without a command: its help is the answer
    else:
        click.echo(f"error: {redact_text(usage_line(exc))}", err=True)
    sys.exit(USAGE_EXIT)


def fail(exc: DrError, *, debug: bool) -> NoReturn:
    """Print a kafka-dr error in one line (the traceback too at debug level) and exit."""
    if debug:
        print_traceback(exc)
    click.echo(f"error: {redact_text(exc.message)}", err=True)
    sys.exit(exc.exit_code)


def fail_unexpectedly(exc: BaseException, *, debug: bool) -> NoReturn:
    """The last line of defence: a bug, in one line, never a traceback unless debugging."""
    if interrupted():  # a client library turned Ctrl-C into an error of its own
        fail(Interrupted("interrupted"), debug=debug)
    if debug:
        print_traceback(exc)
    message = redact_text(f"unexpected error: {type(exc).__name__}: {exc}")
    click.echo(f"error: {message} (run with --log-level debug for details)", err=True)
    sys.exit(USAGE_EXIT)


def print_traceback(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc))
    click.echo(redact_text(text), err=True, nl=False)


def interrupted() -> bool:
    """True once Ctrl-C was pressed in this process."""
    return _interrupted.is_set()


def exit_interrupted_now() -> NoReturn:
    """End the process with 130 without waiting for threads still blocked in a request."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(Interrupted.exit_code)


def allow_cleanup(seconds: float) -> None:
    """Give the cleanup after Ctrl-C this long instead (a command that stops processes)."""
    _grace_s[0] = max(_grace_s[0], seconds)


@contextmanager
def interrupts_caught() -> Iterator[None]:
    """While inside: Ctrl-C raises KeyboardInterrupt in the main thread (cleanup runs); the
    process ends INTERRUPT_GRACE_S later whatever is still waiting, and at once on a second
    Ctrl-C. A command with its own handling of signals (the daemon) installs its own handler.
    The previous handler is back afterwards (main() called in-process, by tests)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:  # started in the background by a shell: not ours to act on
        yield
        return

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        if _interrupted.is_set():
            _say_interrupted()
            exit_interrupted_now()
        _interrupted.set()
        for delay, then in ((CLEANUP_NOTICE_S, _say_cleaning_up), (_grace_s[0], _give_up)):
            timer = threading.Timer(delay, then)
            timer.daemon = True
            timer.start()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _give_up() -> None:
    _say_interrupted()
    exit_interrupted_now()


def _say_cleaning_up() -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write("interrupted: cleaning up (Ctrl-C again to stop at once)\n")
        sys.stderr.flush()


_said = threading.Event()


def _say_interrupted() -> None:
    if not _said.is_set():
        _said.set()
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write("error: interrupted\n")


def fail_interrupted(*, debug: bool) -> NoReturn:
    """Ctrl-C reached the top: say so once and end with 130; at once when it came from a real
    Ctrl-C (threads still blocked in a request are not waited for)."""
    if not _interrupted.is_set():  # a KeyboardInterrupt without the signal (tests, Abort)
        fail(Interrupted("interrupted"), debug=debug)
    if debug:
        print_traceback(KeyboardInterrupt())
    _say_interrupted()
    exit_interrupted_now()
