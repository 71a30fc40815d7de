"""What the model zoo knows about one model: :class:`ModelEntry`.

An entry names a model file inside a wheel pinned by package, version, file name and sha256,
the static input shapes (and value ranges) the model is converted and tested at, and the
thresholds its validation against the source framework uses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs
import numpy as np

from mace_core.compare import COSINE_MIN, REL_MAX

Shape = tuple[int, ...]

# name-version(-build)?-python-abi-platform.whl (PEP 427)
_WHEEL_NAME = re.compile(
    r"^(?P<dist>[^-]+)-(?P<version>[^-]+)(-(?P<build>\d[^-]*))?"
    r"-(?P<python>[^-]+)-(?P<abi>[^-]+)-(?P<platform>[^-]+)\.whl$"
)


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


# the value range of document_image(): (0 - mean) / std .. (1 - mean) / std
DOCUMENT_RANGE = (-2.12, 2.65)


def document_image(shape: Shape, rng: np.random.Generator) -> np.ndarray:
    """An NCHW float32 batch of text-like pages: rows of dark glyph boxes on white paper,
    with a little noise, normalised with the ImageNet mean and std."""
    n, c, h, w = shape
    line = max(6, min(h // 2, 18))  # glyph height in pixels
    pages = np.ones((n, h, w, c), np.float32)
    for page in pages:
        for top in range(line // 2, h - line, 5 * line // 2):
            x = int(rng.integers(2, max(3, w // 8)))
            end = int(rng.integers(w // 2, w - 2))
            while x < end:
                glyph = int(rng.integers(line // 3, line // 2 + 2))
                page[top:top + line, x:x + glyph] = rng.uniform(0.0, 0.2)
                x += glyph + int(rng.integers(line // 4, line // 2))
    pages = np.clip(pages + rng.normal(0, 0.02, pages.shape), 0, 1).astype(np.float32)
    mean = np.array([0.485, 0.456, 0.406][:c], np.float32)
    std = np.array([0.229, 0.224, 0.225][:c], np.float32)
    return ((pages - mean) / std).transpose(0, 3, 1, 2).astype(np.float32)


@attrs.frozen(hash=False, kw_only=True)
class ModelEntry:
    """One model file inside one pinned wheel, with the shapes it is run at.

    ``format`` is the source format (``onnx``, ``tflite`` or ``tensorflow``), the frontend
    that converts it and whose ``run_source`` gives the reference outputs; ``opset`` is the
    ONNX opset (None for the other formats). ``wheel`` is the exact wheel file name: for a
    wheel with a platform tag (e.g. ``cp311-cp311-manylinux...``) the fetch asks pip for
    that very wheel, whatever the machine it runs on.

    ``input_ranges`` gives the ``[low, high)`` interval random test inputs are drawn from
    (uniformly); an input whose low equals its high is filled with that one value (e.g. a
    sample rate). Inputs missing from ``input_dtypes`` are float32. ``control_flow`` names
    the control-flow op types (``If``/``Loop``/``Scan``) the graph holds, empty if none.
    ``frozen_inputs`` are inputs converted as constants of the given value (``mace convert
    --input-value``), so that the If conditions depending on them fold; the converted model
    no longer takes them, the source framework is still fed them.

    ``cosine_min`` and ``rel_max`` are the validation thresholds (the fp32 defaults of
    :mod:`mace_core.compare`); an entry that loosens either must say why in
    ``threshold_reason``.
    """

    name: str
    task: str
    description: str
    package: str
    version: str
    wheel: str
    wheel_sha256: str
    member: str
    sha256: str
    size: int
    input_shapes: Mapping[str, Shape] = attrs.field(converter=_frozen_map)
    input_ranges: Mapping[str, tuple[float, float]] = attrs.field(converter=_frozen_map)
    input_dtypes: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_map)
    format: str = "onnx"
    opset: int | None = None
    control_flow: tuple[str, ...] = ()
    # inputs drawn as a synthetic page of dark glyph rows on white, normalised with the
    # ImageNet mean/std (what OCR models see), instead of uniform noise
    document_inputs: tuple[str, ...] = ()
    frozen_inputs: Mapping[str, float | int] = attrs.field(factory=dict, converter=_frozen_map)
    cosine_min: float = COSINE_MIN
    rel_max: float = REL_MAX
    threshold_reason: str = ""

    def __attrs_post_init__(self) -> None:
        if self.loosened and not self.threshold_reason.strip():
            raise ValueError(
                f"zoo entry {self.name!r} loosens the validation thresholds (cosine >= "
                f"{self.cosine_min}, rel <= {self.rel_max}; defaults {COSINE_MIN}, {REL_MAX}) "
                "without a threshold_reason"
            )
        if _WHEEL_NAME.match(self.wheel) is None:
            raise ValueError(f"zoo entry {self.name!r}: {self.wheel!r} is not a wheel file name")

    def __hash__(self) -> int:
        return hash((self.name, self.sha256))

    @property
    def loosened(self) -> bool:
        """Whether the thresholds are looser than the fp32 defaults."""
        return self.cosine_min < COSINE_MIN or self.rel_max > REL_MAX

    @property
    def file_name(self) -> str:
        """The model file's base name (the last part of ``member``)."""
        return self.member.rsplit("/", 1)[-1]

    @property
    def requirement(self) -> str:
        """The pip requirement that pins the wheel, ``package==version``."""
        return f"{self.package}=={self.version}"

    @property
    def wheel_tags(self) -> tuple[str, str, str]:
        """The wheel's ``(python, abi, platform)`` tags, e.g. ``("py3", "none", "any")``."""
        match = _WHEEL_NAME.match(self.wheel)
        assert match is not None  # checked in __attrs_post_init__
        return match["python"], match["abi"], match["platform"]

    @property
    def runnable(self) -> bool:
        """Whether mace-core converts it: no control flow, or only If with frozen inputs."""
        return not self.control_flow or (set(self.control_flow) == {"If"}
                                         and bool(self.frozen_inputs))

    def frozen_values(self) -> dict[str, np.ndarray]:
        """``frozen_inputs`` as arrays of the inputs' dtypes, for ``ConvertOptions``."""
        return {name: np.asarray(value, dtype=self.input_dtypes.get(name, "float32"))
                for name, value in self.frozen_inputs.items()}

    def random_inputs(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Random inputs at the static shapes, drawn from ``input_ranges``."""
        rng = np.random.default_rng(seed)
        feeds: dict[str, np.ndarray] = {}
        for name, shape in self.input_shapes.items():
            low, high = self.input_ranges[name]
            dtype = np.dtype(self.input_dtypes.get(name, "float32"))
            if name in self.document_inputs:
                feeds[name] = document_image(shape, rng)
            elif low == high:
                feeds[name] = np.full(shape, low, dtype=dtype)
            else:
                feeds[name] = rng.uniform(low, high, size=shape).astype(dtype)
        return feeds
