"""``--from DIR``: find the extracted tree of a dataset in the user's folder and link (or copy) its layout folders
into the dataset directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from fasrnet.data.download.archive import move_into
from fasrnet.data.download.base import Log, log_to_stderr
from fasrnet.errors import FasrnetError

#: The layout folders of an extracted tree that are linked (``detections`` copied) into the dataset directory.
ADOPTED_ENTRIES = ("images", "images_renamed", "annotations", "detections")


def adopt_tree(source: Path, dataset_dir: Path, link: bool = True, log: Log = log_to_stderr) -> list[str]:
    """Link (or copy) the layout folders of an extracted dataset at ``source`` into ``dataset_dir``."""
    adopted = []
    dataset_dir.mkdir(parents=True, exist_ok=True)
    for entry in ADOPTED_ENTRIES:
        src = source / entry
        if not src.is_dir():
            continue
        dst = dataset_dir / entry
        if src.resolve() == dst.resolve():
            adopted.append(entry)
            continue
        if link and entry != "detections":  # detections are copied: later stages write there
            if dst.exists() and not dst.is_symlink():
                raise FasrnetError(f"{dst}: exists and is not a link; move it away or use --copy")
            tmp = dst.with_name(f".{entry}.link.tmp")
            tmp.unlink(missing_ok=True)
            os.symlink(src.resolve(), tmp, target_is_directory=True)
            os.replace(tmp, dst)
        else:
            tmp = Path(tempfile.mkdtemp(prefix=f".{entry}.", suffix=".tmp", dir=dataset_dir))
            try:
                shutil.copytree(src, tmp / entry, symlinks=False)
                if dst.is_symlink():
                    dst.unlink()
                move_into(tmp / entry, dst)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        adopted.append(entry)
    if adopted:
        linked = [e for e in adopted if link and e != "detections"]
        copied = [e for e in adopted if e not in linked]
        how = "; ".join(f"{verb} {', '.join(items)}"
                        for verb, items in (("linked", linked), ("copied", copied)) if items)
        log(f"{dataset_dir.name}: {how} from {source}")
    return adopted


def find_tree(from_dir: Path, dataset: str, single: bool) -> Path | None:
    """Where in ``from_dir`` the extracted tree of ``dataset`` is (``DIR/<dataset>``, ``DIR`` itself when one
    dataset is asked for, or ``posetrack_data/`` below either)."""
    candidates = [from_dir / dataset, from_dir / dataset / "posetrack_data"]
    if single:
        candidates += [from_dir, from_dir / "posetrack_data"]
    for c in candidates:
        if (c / "annotations").is_dir() or (c / "images").is_dir():
            return c
    return None
