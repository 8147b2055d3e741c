"""HTTP(S) fetch with resume: ``Range`` from a ``.part`` file (a server that ignores it means a restart from zero),
bounded retries with exponential backoff, a progress bar. Errors name the artefact and the HTTP status or network
problem, never the URL."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fasrnet import __version__
from fasrnet.data.download.base import DownloadError, Log, log_to_stderr
from fasrnet.params import DownloadParams

PART_SUFFIX = ".part"
#: HTTP statuses that no retry will fix.
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 406, 410, 411, 451})


def _param_default(name: str) -> Any:
    """The default of ``download.<name>``, defined once in :class:`~fasrnet.params.DownloadParams`."""
    return DownloadParams.model_fields[name].get_default(call_default_factory=True)


@dataclass
class FetchOptions:
    """Retry and transfer settings: the first four are ``download.*`` in params.yaml (their defaults too)."""

    retries: int = _param_default("retries")
    backoff_s: float = _param_default("backoff_s")
    backoff_max_s: float = _param_default("backoff_max_s")
    timeout_s: float = _param_default("timeout_s")
    chunk_bytes: int = 1 << 20
    progress: bool | None = None  # None: a bar only on a terminal (tqdm's rule)

    @classmethod
    def from_params(cls, p: DownloadParams) -> FetchOptions:
        """The options of the ``download`` section (transfer sizes and the bar keep their defaults)."""
        return cls(retries=p.retries, backoff_s=p.backoff_s, backoff_max_s=p.backoff_max_s, timeout_s=p.timeout_s)


class _Transient(Exception):
    """Worth another attempt (connection lost, 5xx, timeout)."""


class _Permanent(Exception):
    """No retry will help (404, 403, bad URL)."""


def _describe_os_error(exc: BaseException) -> str:
    """A URL-free description of a network error."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        reason = exc.reason
        if isinstance(reason, str):  # urllib puts the URL into some of these strings
            return "invalid or unsupported URL (not shown)"
        return _describe_os_error(reason)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the host up and the port right?)"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(exc, socket.gaierror):
        return "host name could not be resolved"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "TLS certificate verification failed"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({type(exc).__name__})"
    if isinstance(exc, http.client.IncompleteRead):
        return "connection closed before the end of the file"
    if isinstance(exc, http.client.HTTPException):
        return f"HTTP protocol error ({type(exc).__name__})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes 100-199/1000`` → (100, 1000); ``bytes */1000`` → (None, 1000)."""
    if not value:
        return None, None
    match = re.match(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", value)
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(2)) if match.group(2) != "*" else None
    return start, total


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": f"fasrnet/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (scheme checked by the caller)


def _check_scheme(url: str, name: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DownloadError(f"{name}: the URL's scheme must be http or https (URL not shown); for local files use "
                            "--from DIR")


def _fetch_once(url: str, part: Path, name: str, size: int | None, opts: FetchOptions, log: Log) -> None:
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, opts.timeout_s)
    except urllib.error.HTTPError as exc:
        code = exc.code
        _, total = _content_range(exc.headers.get("Content-Range") if exc.headers else None)
        exc.close()
        if code == 416 and offset:
            if total is not None and total == offset and (size is None or size == offset):
                return  # the .part file is already complete
            part.unlink(missing_ok=True)
            raise _Transient("the server refused the resume point (HTTP 416); restarting from zero") from None
        reason = http.client.responses.get(code, "")
        message = f"HTTP {code} {reason}".strip()
        if code in PERMANENT_STATUSES:
            raise _Permanent(message) from None
        raise _Transient(message) from None
    except ValueError:
        raise _Permanent("invalid URL (not shown)") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if isinstance(reason, (socket.gaierror, str)):  # unknown host or malformed URL: retrying will not help
            raise _Permanent(_describe_os_error(exc)) from None
        raise _Transient(_describe_os_error(exc)) from None

    with contextlib.closing(response):
        status = response.status
        if status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink(missing_ok=True)
                raise _Transient("the server answered a different byte range; restarting from zero")
            mode = "ab"
        elif status == 200:
            if offset:
                log(f"{name}: the server ignored the resume request; restarting from zero")
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        else:
            raise _Transient(f"unexpected HTTP status {status}")
        if size is not None and total is not None and total != size:
            raise _Permanent(f"the server announces {total} bytes, the manifest says {size}")

        from tqdm import tqdm

        bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                   disable=(None if opts.progress is None else not opts.progress), leave=False, file=sys.stderr)
        try:
            with open(part, mode) as f:
                try:
                    while True:
                        chunk = response.read(opts.chunk_bytes)
                        if not chunk:
                            break
                        f.write(chunk)
                        bar.update(len(chunk))
                except (OSError, http.client.HTTPException) as exc:
                    raise _Transient(_describe_os_error(exc)) from None
        finally:
            bar.close()
    got = part.stat().st_size
    if total is not None and got < total:
        raise _Transient(f"connection closed early ({got} of {total} bytes)")
    if total is not None and got > total:
        part.unlink(missing_ok=True)
        raise _Transient(f"received more bytes than announced ({got} > {total}); restarting from zero")


def fetch(url: str, path: str | Path, name: str, size: int | None = None, opts: FetchOptions | None = None,
          log: Log = log_to_stderr) -> Path:
    """Download ``url`` to ``path`` through ``path.part``, resuming what an earlier attempt or run left.

    Attempts that make no progress are bounded by ``opts.retries``; between them the wait doubles from
    ``backoff_s`` up to ``backoff_max_s``. Errors name ``name`` and the HTTP status or network problem only.
    """
    opts = opts or FetchOptions()
    path = Path(path)
    _check_scheme(url, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + PART_SUFFIX)
    failures = 0
    while True:
        before = part.stat().st_size if part.exists() else 0
        if size is not None and before > size:
            part.unlink()
            before = 0
        try:
            _fetch_once(url, part, name, size, opts, log)
        except _Permanent as exc:
            raise DownloadError(f"{name}: {exc}") from None
        except _Transient as exc:
            problem = str(exc)
        else:
            os.replace(part, path)
            return path
        after = part.stat().st_size if part.exists() else 0
        failures = 0 if after > before else failures + 1
        if failures > opts.retries:
            raise DownloadError(f"{name}: download failed after {failures} attempts without progress: {problem}")
        delay = min(opts.backoff_max_s, opts.backoff_s * 2 ** max(failures - 1, 0))
        log(f"{name}: {problem}; retrying in {delay:.3g} s")
        time.sleep(delay)
