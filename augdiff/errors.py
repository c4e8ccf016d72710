"""The one error type users see, and how an unexpected error is still reported in one line."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path

OPERATION_ATTR = "augdiff_operation"


class AugdiffError(Exception):
    """A mistake in the user's input or environment; the CLI prints it as one red line and exits 2."""

    exit_code = 2


@contextlib.contextmanager
def doing(operation: str) -> Iterator[None]:
    """Name the operation and its input (e.g. "add-pro: labelling source patch0042") on an unexpected error.

    The innermost name wins, so the message points at the most specific step that failed.
    """
    try:
        yield
    except AugdiffError:
        raise
    except Exception as exc:
        if not hasattr(exc, OPERATION_ATTR):
            with contextlib.suppress(AttributeError, TypeError):
                setattr(exc, OPERATION_ATTR, operation)
        raise


def save_traceback(exc: BaseException, directory: Path | None = None) -> Path:
    """Write the traceback to a file the user can attach to a report; the runs folder first, else the temp dir."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    candidates = [directory] if directory is not None else []
    candidates.append(Path(tempfile.gettempdir()) / "augdiff-crash-reports")
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"crash-{stamp}-{os.getpid()}.txt"
            path.write_text(text)
            return path
        except OSError:
            continue
    raise OSError("no writable folder for the crash report")


def internal_error_line(exc: BaseException, report: Path | None) -> str:
    """One line: what was being done, what went wrong, where the traceback is and how to report it."""
    where = getattr(exc, OPERATION_ATTR, None)
    what = f"{type(exc).__name__}: {exc}".splitlines()[0]
    head = f"internal error while {where}: {what}" if where else f"internal error: {what}"
    saved = f"traceback saved to {report}" if report else "the traceback could not be saved"
    return f"{head} ({saved}; please report it with that file; AUGDIFF_DEBUG=1 prints it)"
