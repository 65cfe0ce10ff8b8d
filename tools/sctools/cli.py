"""What every command of sctools shares: exit codes, the error type, main's wrapper.

One table of exit codes for every console script (run-all, fleet,
molecule-all, namespaces, affected, zuul-jobs, images) and `python -m` tool. A command
returns a member of Exit or raises ToolError(message, code); `command`
wraps its main so that every tool prints errors the same way
(`<prog>: error: <message>` on stderr, no traceback), exits 130 on Ctrl-C
and stays quiet when a reader closes the pipe (`images list --json | head`).

Stdlib only: run-all imports it, and runs on bridge from the checkout with
nothing but PyYAML.
"""

from __future__ import annotations

import enum
import functools
import os
import sys
from collections.abc import Callable
from typing import Protocol

Argv = list[str] | None


class Main(Protocol):
    """A command's main: its arguments (None: sys.argv's), its exit code."""

    def __call__(self, argv: Argv = None) -> int: ...


class Exit(enum.IntEnum):
    """Exit codes of every command. README.md (Tools) lists them once."""

    OK = 0  # success (also: nothing to do)
    FAILED = 1  # the work failed: a playbook, a build, a push, a check or a scenario
    USAGE = 2  # bad usage or bad input: arguments, a file, a path the command needs
    BUSY = 3  # another run holds the lock (run-all)
    STOPPED = 4  # the emergency stop is on (run-all)
    UNAVAILABLE = 5  # a service it needs does not answer: docker, a registry
    DIFFERENT = 6  # differences found, when asked to say so (namespaces diff --exit-code)
    INTERRUPTED = 130  # Ctrl-C or SIGTERM (128 + SIGINT, as shells report it)


class ToolError(Exception):
    """A problem the user can act on: printed as one message, no traceback."""

    def __init__(self, message: str, code: Exit = Exit.FAILED):
        super().__init__(message)
        self.code = code


def interrupt(signum: int, frame: object) -> None:
    """A signal handler that ends the command as Ctrl-C does (its cleanup runs)."""
    raise KeyboardInterrupt


def fail(prog: str, message: str, code: Exit) -> Exit:
    """Print `<prog>: error: <message>` on stderr; the exit code to return."""
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    return code


def run(prog: str, main: Main, argv: Argv = None) -> int:
    """main(argv) with the shared handling of errors, Ctrl-C and broken pipes."""
    try:
        return int(main(argv))
    except ToolError as exc:
        return fail(prog, str(exc), exc.code)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr, flush=True)
        return Exit.INTERRUPTED
    except BrokenPipeError:
        # The reader has what it wanted; later writes (and the interpreter's
        # final flush) must not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.OK


def command(prog: str) -> Callable[[Main], Main]:
    """Decorator for a command's main(argv=None) -> int; the console script calls it."""

    def wrap(main: Main) -> Main:
        @functools.wraps(main)
        def wrapped(argv: Argv = None) -> int:
            return run(prog, main, argv)

        return wrapped

    return wrap
