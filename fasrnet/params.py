"""Typed, validated pipeline parameters (``params.yaml``).

Schema library: **pydantic v2**. The schema is Python classes the stages use directly
(``params.loss.alpha`` is a typed float, not a dict lookup), so there is one source of truth for names, types,
ranges and defaults; jsonschema would need a separate schema document plus dict access everywhere.

Every entry point calls :func:`load_params`; errors name the file, the dotted key, the value and what was
expected, and an unknown key is answered with the closest valid one (``loss.alpah`` → ``loss.alpha``).
Sections are grouped by stage, so each DVC stage can list exactly the keys it reads.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fasrnet.errors import FasrnetError

DEFAULT_PARAMS_FILE = "params.yaml"


class ParamsError(FasrnetError):
    """params.yaml (or an override) is invalid; the message lists every problem."""


class Section(BaseModel):
    """Base for every section: unknown keys are errors, no type coercion (a YAML ``"0.3"`` is not 0.3)."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)


class DataParams(Section):
    """Where datasets live and which ones the pipeline runs."""

    root: str = "data/raw"
    datasets: list[Literal["syn17", "syn18", "posetrack17", "posetrack18"]] = Field(
        default_factory=lambda: ["syn17", "syn18"], min_length=1
    )


class SplitCounts(Section):
    """A number per split (videos per split, for instance)."""

    train: int = Field(ge=1)
    val: int = Field(ge=1)
    test: int = Field(ge=1)


class SynthesizeParams(Section):
    """Synthetic PoseTrack-format data (the embedded default's stand-in for PoseTrack)."""

    seed: int = Field(default=0, ge=0)
    image_width: int = Field(default=320, ge=64, le=4096)
    image_height: int = Field(default=240, ge=64, le=4096)
    jpeg_quality: int = Field(default=90, ge=10, le=100)
    videos: SplitCounts = Field(default_factory=lambda: SplitCounts(train=8, val=4, test=2))
    frames_per_video: int = Field(default=32, ge=8, le=9999)
    min_people: int = Field(default=1, ge=1, le=16)
    max_people: int = Field(default=4, ge=1, le=16)
    degraded_fraction: float = Field(default=0.35, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _people_range(self) -> SynthesizeParams:
        if self.min_people > self.max_people:
            raise ValueError(
                f"min_people ({self.min_people}) must not exceed max_people ({self.max_people})"
            )
        return self


class LossParams(Section):
    """Eq. 19: ``alpha * L(H^r) + (1 - alpha) * L(H^final)``."""

    alpha: float = Field(default=0.4, ge=0.0, le=1.0)


class Params(Section):
    """The whole ``params.yaml``."""

    data: DataParams = Field(default_factory=DataParams)
    synthesize: SynthesizeParams = Field(default_factory=SynthesizeParams)
    loss: LossParams = Field(default_factory=LossParams)


# --------------------------------------------------------------------------------------------------------------
# Loading and error reporting


def _valid_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every dotted key the schema accepts (sections and leaves)."""
    keys = []
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        keys.append(dotted)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys.extend(_valid_keys(ann, dotted + "."))
    return keys


def _expected(error: dict[str, Any]) -> str:
    """Turn pydantic's message into 'expected …' wording."""
    msg = error["msg"]
    for prefix in ("Input should be ", "Value error, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
            return ("expected " + msg) if prefix == "Input should be " else msg
    return msg


def _format_errors(exc: ValidationError, source: str) -> str:
    valid = _valid_keys(Params)
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else ""
            lines.append(f"{source}: unknown key {key}{hint}")
        elif err["type"] == "missing":
            lines.append(f"{source}: {key}: required key is missing")
        else:
            where = f"{key}: " if key else ""
            lines.append(f"{source}: {where}got {err['input']!r}; {_expected(err)}")
    return "\n".join(lines)


def validate_params(raw: Any, source: str = DEFAULT_PARAMS_FILE) -> Params:
    """Validate a parsed params mapping; raise :class:`ParamsError` naming every bad key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError(_format_errors(exc, source)) from None


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ParamsError(f"override {item!r}: expected KEY=VALUE, e.g. loss.alpha=0.3")
    key, value = item.split("=", 1)
    return key.strip().split("."), yaml.safe_load(value)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as YAML), as ``dvc exp run -S`` does."""
    for item in overrides:
        path, value = _parse_override(item)
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ParamsError(f"override {item!r}: {part} is not a section")
        node[path[-1]] = value
    return raw


def load_params(path: str | Path = DEFAULT_PARAMS_FILE, overrides: list[str] | None = None) -> Params:
    """Read and validate a params file. A missing file gives the defaults only if ``path`` is the default name
    and does not exist (running outside a checkout); any other missing file is an error."""
    path = Path(path)
    if not path.exists():
        if str(path) != DEFAULT_PARAMS_FILE:
            raise ParamsError(f"{path}: params file not found")
        raw: Any = {}
    else:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            raise ParamsError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
        raw = raw if raw is not None else {}
    if overrides:
        if not isinstance(raw, dict):
            raise ParamsError(f"{path}: expected a mapping of sections at the top level")
        raw = apply_overrides(raw, overrides)
    return validate_params(raw, source=str(path))


def dump_defaults() -> str:
    """The default params as block-style YAML (what ``params.yaml`` ships with)."""
    return yaml.safe_dump(Params().model_dump(mode="json"), default_flow_style=False, sort_keys=False)
