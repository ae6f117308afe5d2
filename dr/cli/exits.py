"""How a command ends: every error as one line (``error: ...``) and its exit code, whether
kafka-dr or click raised it; and Ctrl-C or SIGTERM, which end the command promptly, after its
cleanup (finally blocks, context managers: leases released, temporary files removed, the run
recorded as cancelled), with 130 or 143 (128 + the signal's number).

Exit codes (dr.errors): 0 success, 1 a check found a problem, 2 an error, 130 interrupted by
Ctrl-C, 143 interrupted by SIGTERM (systemd stop, kill, a CI timeout).
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
# After Ctrl-C or SIGTERM, cleanup (releasing a lease, journaling the step, removing a temporary
# file) has this long before the process ends anyway: a thread blocked in a client library's request
# cannot be interrupted, and must not hold the exit. A second signal ends it at once.
INTERRUPT_GRACE_S = 10.0
# Still running this long after Ctrl-C: say that cleanup is under way.
CLEANUP_NOTICE_S = 1.0
# Options of the kafka-dr command itself, and what each takes (for the hint when one is given
# after a subcommand, where click does not know it).
GLOBAL_OPTIONS = {"--config": "FILE", "--log-level": "LEVEL", "--log-format": "FORMAT"}

# The signals that interrupt a command; the first one received decides the exit code.
INTERRUPTING = (signal.SIGINT, signal.SIGTERM)

_interrupted = threading.Event()
_received = [signal.SIGINT]
_grace_s = [INTERRUPT_GRACE_S]


class Terminated(KeyboardInterrupt):
    """SIGTERM reached the command: raised where Ctrl-C raises KeyboardInterrupt, so everything
    that cleans up after Ctrl-C (and records a run as cancelled) does so after SIGTERM too."""


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
    if exc.exit_code == Interrupted.exit_code and interrupted():  # SIGTERM made it 'cancelled'
        fail_interrupted(debug=debug)
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
    """True once Ctrl-C was pressed, or SIGTERM received, in this process."""
    return _interrupted.is_set()


def interrupted_exit_code() -> int:
    """128 + the number of the signal that interrupted the command: 130 Ctrl-C, 143 SIGTERM."""
    return 128 + int(_received[0])


def interrupted_message() -> str:
    if _received[0] == signal.SIGINT:
        return "interrupted"
    return f"interrupted by {signal.Signals(_received[0]).name}"


def exit_interrupted_now() -> NoReturn:
    """End the process with 130 (143 after SIGTERM) without waiting for threads still blocked
    in a request."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(interrupted_exit_code())


def allow_cleanup(seconds: float) -> None:
    """Give the cleanup after Ctrl-C this long instead (a command that stops processes)."""
    _grace_s[0] = max(_grace_s[0], seconds)


@contextmanager
def interrupts_caught() -> Iterator[None]:
    """While inside: Ctrl-C raises KeyboardInterrupt, and SIGTERM Terminated (a subclass), in
    the main thread, so cleanup runs; the process ends INTERRUPT_GRACE_S later whatever is still
    waiting, and at once on a second signal. A command with its own handling of signals (the
    daemon) installs its own handler. A signal ignored when kafka-dr started (SIGINT of a
    background job of a shell) stays ignored. The previous handlers are back afterwards
    (main() called in-process, by tests)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in INTERRUPTING}
    for signum, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, _on_interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _on_interrupt(signum: int, frame: FrameType | None) -> None:
    if _interrupted.is_set():
        _say_interrupted()
        exit_interrupted_now()
    _received[0] = signal.Signals(signum)
    _interrupted.set()
    for delay, then in ((CLEANUP_NOTICE_S, _say_cleaning_up), (_grace_s[0], _give_up)):
        timer = threading.Timer(delay, then)
        timer.daemon = True
        timer.start()
    raise KeyboardInterrupt if signum == signal.SIGINT else Terminated


def _give_up() -> None:
    _say_interrupted()
    exit_interrupted_now()


def _say_cleaning_up() -> None:
    with contextlib.suppress(OSError, ValueError):
        again = "Ctrl-C" if _received[0] == signal.SIGINT else "a second signal"
        sys.stderr.write(f"{interrupted_message()}: cleaning up ({again} to stop at once)\n")
        sys.stderr.flush()


_said = threading.Event()


def _say_interrupted() -> None:
    if not _said.is_set():
        _said.set()
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(f"error: {interrupted_message()}\n")


def fail_interrupted(*, debug: bool) -> NoReturn:
    """Ctrl-C or SIGTERM reached the top: say so once and end with 130 (143 after SIGTERM); at
    once when it came from a real signal (threads still blocked in a request are not waited
    for)."""
    if not _interrupted.is_set():  # a KeyboardInterrupt without the signal (tests, Abort)
        fail(Interrupted("interrupted"), debug=debug)
    if debug:
        print_traceback(KeyboardInterrupt() if _received[0] == signal.SIGINT else Terminated())
    _say_interrupted()
    exit_interrupted_now()
