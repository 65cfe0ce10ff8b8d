"""Whether a process is alive: one answer for every tool that records pids.

Stdlib only: run-all imports it, and runs on bridge from the checkout with
nothing but PyYAML.
"""

from __future__ import annotations

import os


def alive(pid: int | None) -> bool:
    """True while process `pid` exists (also when it belongs to another user).

    A child of this process that has exited is reaped here and counts as
    gone: unreaped, it would look alive as a zombie.
    """
    if not pid:
        return False
    try:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return False
    except ChildProcessError:  # not our child: only kill(0) can tell
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
