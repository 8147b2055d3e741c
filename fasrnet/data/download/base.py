"""What every step of ``fasrnet download`` shares: its error types and the log callback (one message per call;
:func:`log_to_stderr` by default)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from fasrnet.errors import FasrnetError

Log = Callable[[str], None]


def log_to_stderr(message: str) -> None:
    """The default :data:`Log`: progress and notes go to stderr, flushed at once (stdout stays for ``--list``)."""
    print(message, file=sys.stderr, flush=True)


class DownloadError(FasrnetError):
    """A download, verification or extraction failed; the message names the artefact, never its URL."""


class UnsafeArchiveError(DownloadError):
    """An archive member would land outside the extraction directory."""


class LayoutError(FasrnetError):
    """A dataset tree lacks files; the message lists each missing item on its own line."""
