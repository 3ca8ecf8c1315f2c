"""The error a user can fix, and how a command turns it (or a full disk, a read-only folder) into one line."""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable


class UserError(Exception):
    """A problem the user can fix; its message names the problem and the fix, on one line."""


OS_ERROR_FIXES = {
    errno.ENOSPC: "free some disk space and run it again",
    errno.EROFS: "make it writable, or work in a writable clone",
    errno.EACCES: "make it writable, or work in a writable clone",
    errno.EPERM: "make it writable, or work in a writable clone",
}


def os_error_line(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}; {OS_ERROR_FIXES.get(exc.errno, 'check that path and run it again')}"


def run(main: Callable[[], None]) -> int:
    """Run a stage's or a command's main(): a UserError, or an OSError such as a full disk or a read-only
    folder, becomes one line on stderr and exit code 1."""
    try:
        main()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {os_error_line(exc)}", file=sys.stderr)
        return 1
    return 0
