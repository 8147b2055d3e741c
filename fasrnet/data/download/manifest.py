"""The artefact manifest: ``manifest.json`` beside this module, read into frozen pydantic models and checked
(``docs/data.md``, §4 describes its fields)."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fasrnet.errors import FasrnetError, InputFormatError

MANIFEST_PATH = Path(__file__).with_name("manifest.json")
KINDS = ("images", "labels", "boxes", "weights")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSpec(_Strict):
    """One file to fetch: its name, the recorded URL, and what is known to check it against."""

    file: str
    url: str | None = None
    size: int | None = Field(default=None, ge=0)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    sha256_prefix: str | None = Field(default=None, pattern=r"^[0-9a-f]{4,64}$")

    @property
    def checks(self) -> bool:
        return self.size is not None or bool(self.sha256) or bool(self.sha256_prefix)


class ConvertStep(_Strict):
    """Turn a box file into the pipeline's detection format after install (paths relative to the dataset dir;
    ``in`` = ``@file`` means the downloaded file itself)."""

    from_format: Literal["dcpose", "mmpose"]
    in_: str = Field(alias="in")
    ann: str | None = None
    out: str


class Artefact(_Strict):
    """One manifest entry. A single file (``file``/``url``/``size``/``sha256``) or ``parts`` joined in order."""

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    dataset: str | None
    kind: Literal["images", "labels", "boxes", "weights"]
    default: bool = True
    variant: str | None = None
    file: str | None = None
    url: str | None = None
    page: str | None = None
    size: int | None = Field(default=None, ge=0)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    sha256_prefix: str | None = Field(default=None, pattern=r"^[0-9a-f]{4,64}$")
    approx_size_bytes: int | None = None
    parts: list[FileSpec] | None = None
    archive: Literal["tar", "zip"] | None = None
    extract_to: str = ""
    strip_prefix: str | None = None
    mirror_groups: list[str] = Field(default_factory=list)
    convert: list[ConvertStep] = Field(default_factory=list)
    status: str = ""
    source: str = ""

    @property
    def files(self) -> list[FileSpec]:
        if self.parts:
            return list(self.parts)
        assert self.file is not None
        return [FileSpec(file=self.file, url=self.url, size=self.size, sha256=self.sha256,
                         sha256_prefix=self.sha256_prefix)]

    @property
    def multipart(self) -> bool:
        return bool(self.parts)


class DatasetInfo(_Strict):
    release: str = ""
    annotation_format: Literal[17, 18] = 18
    expected_videos: dict[str, int] = Field(default_factory=dict)
    expected_videos_source: dict[str, str] = Field(default_factory=dict)
    notes: str = ""


class Manifest(_Strict):
    version: int
    about: list[str] = Field(default_factory=list)
    datasets: dict[str, DatasetInfo] = Field(default_factory=dict)
    artefacts: list[Artefact]

    def get(self, name: str) -> Artefact:
        for a in self.artefacts:
            if a.name == name:
                return a
        close = difflib.get_close_matches(name, [a.name for a in self.artefacts], n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise FasrnetError(f"unknown artefact {name!r}{hint} (fasrnet download --list shows them)")


def load_manifest(path: str | Path | None = None) -> Manifest:
    """Read and validate the manifest (the packaged one by default)."""
    path = Path(path) if path is not None else MANIFEST_PATH
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFormatError(path, "", "manifest not found") from None
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, "", f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    try:
        manifest = Manifest.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        raise InputFormatError(path, where, err["msg"]) from None
    names = [a.name for a in manifest.artefacts]
    for i, a in enumerate(manifest.artefacts):
        if names.count(a.name) > 1:
            raise InputFormatError(path, f"artefacts[{i}].name", f"duplicate artefact name {a.name!r}")
        if (a.file is None) == (not a.parts):
            raise InputFormatError(path, f"artefacts[{i}]", "give exactly one of 'file' or 'parts'")
        if a.multipart and a.archive is None:
            raise InputFormatError(path, f"artefacts[{i}].archive", "a multi-part artefact must be an archive")
    return manifest


def sha256_prefix_from_name(file_name: str) -> str | None:
    """The 8 hex digits mmpose puts in its checkpoint names (``…-c161b7de_20220915.pth`` → ``c161b7de``)."""
    match = re.search(r"-([0-9a-f]{8})(?:_\d{8})?\.pth$", file_name)
    return match.group(1) if match else None
