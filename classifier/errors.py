"""The error a user can fix, how a command turns it (or a full disk, a read-only folder) into one line, and
keeping native libraries' own lines off the user's terminal."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import tempfile
from collections.abc import Callable, Iterator


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


def first_line(exc: Exception, limit: int = 160) -> str:
    """`ClassName: first line of the message`, cut to `limit` characters: Keras messages can run for pages."""
    text = f"{exc.__class__.__name__}: {(str(exc).splitlines() or [''])[0]}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send what is written to file descriptor 2 during the block to a temporary file. TensorFlow's C++ start-up
    lines (absl's "All log messages before absl::InitializeLog()", oneDNN, the CUDA stub, cuInit) are written
    before TF_CPP_MIN_LOG_LEVEL is read, so only this keeps them off the user's terminal. If the block fails
    with anything but a UserError, what was captured is written back, so a crash still explains itself."""
    sys.stderr.flush()
    saved = os.dup(2)
    crashed = False
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except UserError:
            raise
        except BaseException:
            crashed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if crashed:
                captured.seek(0)
                os.write(2, captured.read())
