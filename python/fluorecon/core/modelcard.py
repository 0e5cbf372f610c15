"""The model card: everything a model needs to be run and judged, stored as ONNX metadata_props
(string keys and values). The single Python reader/writer; Java's is core/ModelCard.java.
Keys and rules: DESIGN.md ("Model card")."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from fluorecon.core.atomic import atomic_path
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

FORMAT_VERSION = "1"
DEFAULT_MODEL_VERSION = "1.0.0"
REQUIRED_KEYS = (
    "fluorecon.format", "task", "method", "name", "axes.in", "axes.out", "channels.in", "channels.out",
    "tile.multiple", "tile.halo", "tile.default", "scale", "norm", "outputs",
)
_LIST_FIELDS = {"tile.multiple": "tile_multiple", "tile.halo": "tile_halo", "tile.default": "tile_default", "scale": "scale"}
_PREFIXES = ("train", "metrics", "qc")


class ModelCardError(ValueError):
    """A model file without a usable card (missing, corrupt, or from an unknown format)."""


class ModelCard(BaseModel):
    """What a fluorecon ONNX model is, how to tile and normalize its input, and how it was made."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(description="Task key from the task registry, e.g. 'denoise'.")
    method: str = Field(description="Method within the task, e.g. 'care', 'n2v'.")
    name: str = Field(description="Human-readable model name shown in Fiji's model list.")
    axes_in: str = Field(description="Input tensor axes, 'bcyx' or 'bczyx'.")
    axes_out: str = Field(description="Output tensor axes, 'bcyx' or 'bczyx'.")
    channels_in: int = 1
    channels_out: int = 1
    tile_multiple: tuple[int, ...] = Field(description="Every tile side must be a multiple of this, per spatial axis.")
    tile_halo: tuple[int, ...] = Field(description="Overlap in input pixels per spatial axis (covers the receptive field).")
    tile_default: tuple[int, ...] = Field(description="Default tile size per spatial axis.")
    scale: tuple[int, ...] = Field(description="Output/input size ratio per spatial axis.")
    norm: str = Field("percentile:1:99.8", description="Input normalisation per block: 'percentile:LOW:HIGH', "
                      "'zscore' (mean → 0, std → 1) or 'fixed:MEAN:STD' (core.normalize.norm_range).")
    denorm: str = Field("input", description="Output mapping: 'input' (back to the input's units with the same "
                        "range), 'none' (as the network gives it) or 'linear:GAIN:OFFSET' (y·GAIN + OFFSET).")
    outputs: str = Field("mean", description="'mean', or 'mean,scale' when a per-pixel uncertainty is predicted.")
    fluorecon_version: str = ""
    model_version: str = Field("", description="Version of this model (semver), key 'model.version'.")
    model_sha256: str = Field("", description="sha256 of the model's graph and weights (core.modelcard.graph_sha256), "
                              "key 'model.sha256'.")
    created: str = ""
    license: str = "BSD-3-Clause"
    cite: str = ""
    description: str = ""
    train: dict[str, str] = Field(default_factory=dict, description="How it was trained (data, PSF, noise, stats).")
    metrics: dict[str, str] = Field(default_factory=dict, description="Validation figures, with the classical baseline.")
    qc: dict[str, str] = Field(default_factory=dict, description="Reference statistics for out-of-distribution checks.")

    @field_validator("axes_in", "axes_out")
    @classmethod
    def _axes(cls, v: str) -> str:
        if v not in ("bcyx", "bczyx"):
            raise ValueError(f"axes must be 'bcyx' or 'bczyx', got {v!r}")
        return v

    @property
    def ndim(self) -> int:
        """Number of spatial axes (2 or 3)."""
        return len(self.axes_in) - 2

    @property
    def has_scale_output(self) -> bool:
        return "scale" in self.outputs.split(",")

    @property
    def mean_channels(self) -> int:
        """Channels of the mean output: ``channels.out`` counts every channel of the output tensor
        (with ``outputs = mean,scale`` the first half are means, the second half their scales)."""
        return self.channels_out // len(self.outputs.split(","))

    def to_metadata(self) -> dict[str, str]:
        from fluorecon import __version__

        meta = {
            "fluorecon.format": FORMAT_VERSION,
            "fluorecon.version": self.fluorecon_version or __version__,
            "created": self.created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "task": self.task, "method": self.method, "name": self.name,
            "axes.in": self.axes_in, "axes.out": self.axes_out,
            "channels.in": str(self.channels_in), "channels.out": str(self.channels_out),
            "norm": self.norm, "outputs": self.outputs, "license": self.license,
            "cite": self.cite, "description": self.description,
        }
        if self.model_version:
            meta["model.version"] = self.model_version
        if self.model_sha256:
            meta["model.sha256"] = self.model_sha256
        if self.denorm != "input":  # written only where it differs, so older readers see the cards they know
            meta["denorm"] = self.denorm
        for key, attr in _LIST_FIELDS.items():
            meta[key] = ",".join(str(v) for v in getattr(self, attr))
        for prefix in _PREFIXES:
            for k, v in getattr(self, prefix).items():
                meta[f"{prefix}.{k}"] = str(v)
        return meta

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> "ModelCard":
        fmt = meta.get("fluorecon.format")
        if fmt is None:
            raise ModelCardError("Model has no fluorecon card (metadata key 'fluorecon.format' is missing); "
                                 "export it with `fluorecon export` or pick a fluorecon model.")
        if fmt != FORMAT_VERSION:
            raise ModelCardError(f"Model card format {fmt!r} is not supported (this fluorecon reads format "
                                 f"{FORMAT_VERSION}); update fluorecon.")
        for key in REQUIRED_KEYS:
            if key not in meta:
                raise ModelCardError(f"Model card is missing the key '{key}'; re-export the model.")
        fields: dict = {prefix: {} for prefix in _PREFIXES}
        for key, value in meta.items():
            head, _, rest = key.partition(".")
            if head in _PREFIXES and rest:
                fields[head][rest] = value
            elif key in _LIST_FIELDS:
                try:
                    fields[_LIST_FIELDS[key]] = tuple(int(v) for v in value.split(","))
                except ValueError:
                    raise ModelCardError(f"Model card key '{key}' must be a comma list of integers, got {value!r}.") from None
            elif key not in ("fluorecon.format",):
                fields[key.replace(".", "_")] = value
        fields = {k: v for k, v in fields.items() if k in cls.model_fields}
        try:
            card = cls(**fields)
        except ValidationError as err:
            raise ModelCardError(f"Model card is invalid: {err.errors()[0]['loc']}: {err.errors()[0]['msg']}") from None
        for attr in _LIST_FIELDS.values():
            if len(getattr(card, attr)) != card.ndim:
                raise ModelCardError(f"Model card '{attr}' has {len(getattr(card, attr))} entries for a "
                                     f"{card.ndim}D model; give one per spatial axis.")
        n_outputs = len(card.outputs.split(","))
        if card.channels_out % n_outputs:
            raise ModelCardError(f"Model card is invalid: channels.out = {card.channels_out} cannot hold the "
                                 f"{n_outputs} outputs '{card.outputs}'.")
        return card


def _load_onnx(path: Path):
    import onnx

    if not path.is_file():
        raise ModelCardError(f"Model file not found: {path}")
    try:
        return onnx.load(str(path))
    except Exception as err:  # onnx raises DecodeError and friends
        raise ModelCardError(f"Model file {path} is not a readable ONNX model ({type(err).__name__}); "
                             "re-download or re-export it.") from None


def graph_sha256(model) -> str:
    """sha256 of an ONNX model's graph (operators and weights), not of its metadata: the card's
    ``model.sha256`` identifies the network, and stays valid when the card is rewritten."""
    import hashlib

    return hashlib.sha256(model.graph.SerializeToString(deterministic=True)).hexdigest()


def read_card(onnx_path: str | os.PathLike) -> ModelCard:
    """Read the card of an ONNX model file; a ``model.sha256`` that does not match the graph is refused."""
    model = _load_onnx(Path(onnx_path))
    card = ModelCard.from_metadata({p.key: p.value for p in model.metadata_props})
    if card.model_sha256 and card.model_sha256 != graph_sha256(model):
        raise ModelCardError(f"Model {Path(onnx_path).name}: its network does not match the card's model.sha256 "
                             "(the weights were changed after the card was written); re-export or re-download it.")
    return card


def write_card(onnx_path: str | os.PathLike, card: ModelCard) -> None:
    """Replace the metadata_props of an ONNX file with `card` (atomic rewrite); ``model.sha256`` is
    set from the graph, ``model.version`` to 1.0.0 when the card has none."""
    import onnx

    path = Path(onnx_path)
    model = _load_onnx(path)
    card = card.model_copy(update={"model_sha256": graph_sha256(model),
                                   "model_version": card.model_version or DEFAULT_MODEL_VERSION})
    del model.metadata_props[:]
    for key, value in card.to_metadata().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    with atomic_path(path, suffix=".onnx.part") as tmp:
        onnx.save(model, tmp)
