"""Acquire PoseTrack images, labels, detection boxes and HRNet-W48 checkpoints: ``fasrnet download``.

Every artefact is listed in ``manifest.json`` in this package (URL, size and hash where known, parts, archive
type, where it extracts); ``docs/data.md``, §4 explains it. posetrack.net has been offline since
about 2022 and the DCPose supplementary folder returns 404, so two routes exist:

- **download** over HTTP(S): resume with ``Range`` from a ``.part`` file (a server that ignores ``Range`` means a
  restart from zero), bounded retries with exponential backoff, a progress bar, a size/sha256 (or sha256-prefix)
  check — a file that fails it is deleted and fetched once more, then the run stops with a clear error —,
  multi-part archives streamed in order into one extraction, extraction into a temporary directory that is
  renamed into place, refusing members that are absolute, escape the target, or are links out of it. A verified
  file gets a ``<file>.verified.json`` record (size, mtime, sha256) so a re-run skips it without a request.
  URLs come from the manifest or from a mirror the user supplies (``FASRNET_MIRROR_<NAME>``,
  ``FASRNET_<GROUP>_MIRROR``, ``download.mirror``); they may carry tokens, so **no URL is ever printed or
  logged** — messages name the artefact.
- **``--from DIR``**: adopt a copy the user has (an extracted tree linked or copied in, and/or the archives,
  box files and checkpoints, verified like downloads), then verify the layout: per-split video counts, every
  annotation file read with :func:`~fasrnet.data.posetrack.read_video`, every referenced image present. What
  is missing is listed one line each and the command exits non-zero.

The modules, bottom to top (each imports only those above it in this list):

- :mod:`~fasrnet.data.download.base` — the error types and the log callback;
- :mod:`~fasrnet.data.download.manifest` — the manifest's models, :func:`load_manifest`;
- :mod:`~fasrnet.data.download.urls` — mirrors and recorded URLs (never logged);
- :mod:`~fasrnet.data.download.transfer` — HTTP fetch with resume, retries and backoff (:class:`FetchOptions`);
- :mod:`~fasrnet.data.download.verify` — hash checks and verification records (:func:`ensure_file`);
- :mod:`~fasrnet.data.download.archive` — safe extraction (:func:`extract_archive`);
- :mod:`~fasrnet.data.download.kinds` — which kind of copy a tree is and its label version (:func:`detect_kind`);
- :mod:`~fasrnet.data.download.layout` — layout verification of a dataset tree (:func:`verify_layout`);
- :mod:`~fasrnet.data.download.orchestration` — selecting, fetching and installing artefacts (:class:`Plan`);
- :mod:`~fasrnet.data.download.adopt` — adopting an extracted tree from ``--from DIR``: staged, its box files
  converted, verified, then moved into place with ``dataset.json`` (:func:`adopt_copy`);
- :mod:`~fasrnet.data.download.command` — :func:`cli_download`, the handler ``fasrnet.commands.download`` calls.

The names below are re-exported so that ``from fasrnet.data.download import X`` keeps working.
"""

from fasrnet.data.download.adopt import (
    ADOPTED_ENTRIES,
    DATASET_RECORD,
    Adoption,
    adopt_copy,
    find_box_files,
    find_tree,
)
from fasrnet.data.download.archive import extract_archive, move_into
from fasrnet.data.download.base import DownloadError, LayoutError, Log, UnsafeArchiveError, log_to_stderr
from fasrnet.data.download.command import cli_download
from fasrnet.data.download.kinds import KINDS as COPY_KINDS
from fasrnet.data.download.kinds import TreeKind, detect_kind
from fasrnet.data.download.layout import MAX_MISSING_PER_VIDEO, SPLITS, LayoutReport, verify_layout
from fasrnet.data.download.manifest import (
    KINDS,
    MANIFEST_PATH,
    Artefact,
    ConvertStep,
    DatasetInfo,
    FileSpec,
    Manifest,
    load_manifest,
    sha256_prefix_from_name,
)
from fasrnet.data.download.orchestration import Plan, acquire, install, select_artefacts
from fasrnet.data.download.transfer import PART_SUFFIX, PERMANENT_STATUSES, FetchOptions, fetch
from fasrnet.data.download.urls import group_env_name, join_base, mirror_env_name, resolve_urls, source_hint
from fasrnet.data.download.verify import VERIFIED_SUFFIX, check_file, ensure_file, sha256_file, verified_sha

__all__ = [
    "ADOPTED_ENTRIES",
    "COPY_KINDS",
    "DATASET_RECORD",
    "KINDS",
    "MANIFEST_PATH",
    "MAX_MISSING_PER_VIDEO",
    "PART_SUFFIX",
    "PERMANENT_STATUSES",
    "SPLITS",
    "TreeKind",
    "VERIFIED_SUFFIX",
    "Adoption",
    "Artefact",
    "ConvertStep",
    "DatasetInfo",
    "DownloadError",
    "FetchOptions",
    "FileSpec",
    "LayoutError",
    "LayoutReport",
    "Log",
    "Manifest",
    "Plan",
    "UnsafeArchiveError",
    "acquire",
    "adopt_copy",
    "check_file",
    "cli_download",
    "ensure_file",
    "extract_archive",
    "fetch",
    "detect_kind",
    "find_box_files",
    "find_tree",
    "group_env_name",
    "install",
    "join_base",
    "load_manifest",
    "log_to_stderr",
    "mirror_env_name",
    "move_into",
    "resolve_urls",
    "select_artefacts",
    "sha256_file",
    "sha256_prefix_from_name",
    "source_hint",
    "verified_sha",
    "verify_layout",
]
