"""Export of the Keras benchmark networks to every engine's format.

Keras applications with random weights (``weights=None``, fixed seed), then:

* ONNX: tf2onnx (opset 13) with an NCHW input, then :mod:`onnx_cleanup`, checked against
  Keras with onnxruntime (graph optimisations off);
* TFLite fp32: through a SavedModel (the direct concrete-function route loses Keras 3
  variables and gives NaN outputs);
* ncnn: the pnnx binary on the cleaned ONNX (``fp16=0``);
* MNN: the converter's C entry point ``_tools.mnnconvert`` on the cleaned ONNX (never the
  ``mnnconvert`` script or ``MNN.tools``: importing those runs ``pip install`` and posts
  usage data).

BatchNorm moving statistics are set from one training-mode pass over a random batch
(momentum 0), so every layer sees roughly unit-variance activations as in a trained
network; with Keras' default statistics the activations of the deeper MobileNet layers
shrink towards 1e-20 and below, which no trained model does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

SEED = 1234
OPSET = 13

# name -> (keras.applications class, alpha or None, input side)
KERAS_MODELS: dict[str, tuple[str, float | None, int]] = {
    "mobilenet_v1_1.0_224": ("MobileNet", 1.0, 224),
    "mobilenet_v2_1.0_224": ("MobileNetV2", 1.0, 224),
    "mobilenet_v2_0.5_128": ("MobileNetV2", 0.5, 128),
    "resnet50_224": ("ResNet50", None, 224),
}


def build_keras(name: str):
    """The Keras model for ``name`` with seeded random weights and calibrated BatchNorm."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    cls, alpha, side = KERAS_MODELS[name]
    keras.utils.set_random_seed(SEED)
    kwargs = {"alpha": alpha} if alpha is not None else {}
    model = getattr(keras.applications, cls)(
        input_shape=(side, side, 3), weights=None, classifier_activation=None, **kwargs)
    norms = [layer for layer in model.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    batch = np.random.default_rng(SEED + 1).uniform(-1, 1, (8, side, side, 3))
    model(batch.astype(np.float32), training=True)
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum
    return model


def keras_input(name: str) -> np.ndarray:
    """The fixed NHWC input the references are computed on."""
    side = KERAS_MODELS[name][2]
    rng = np.random.default_rng(SEED)
    return rng.uniform(-1, 1, (1, side, side, 3)).astype(np.float32)


def export_onnx(model, side: int, path: Path) -> None:
    """tf2onnx at opset 13 with an NCHW input named ``input``, then the cleanup pass."""
    import onnx
    import tensorflow as tf
    import tf2onnx
    from onnx_cleanup import canonicalize

    spec = [tf.TensorSpec((1, side, side, 3), tf.float32, name="input")]
    fn = tf.function(lambda x: model(x, training=False))
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=OPSET,
                                             inputs_as_nchw=["input"])
    onnx.save(canonicalize(proto), str(path))


def export_tflite(model, side: int, path: Path, workdir: Path) -> None:
    """fp32 .tflite (NHWC input) through a SavedModel."""
    import tensorflow as tf

    saved = workdir / "saved_model"
    shutil.rmtree(saved, ignore_errors=True)
    model.export(str(saved), format="tf_saved_model", verbose=False,
                 input_signature=[tf.TensorSpec((1, side, side, 3), tf.float32, name="input")])
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    path.write_bytes(converter.convert())
    shutil.rmtree(saved, ignore_errors=True)


def pnnx_binary() -> Path:
    """The pnnx executable shipped inside the pnnx wheel (found without importing pnnx)."""
    import importlib.util

    spec = importlib.util.find_spec("pnnx")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pnnx is not installed (benchmarks/setup.sh installs it --no-deps)")
    binary = Path(list(spec.submodule_search_locations)[0]) / "pnnx"
    if not binary.is_file():
        raise RuntimeError(f"pnnx wheel has no binary at {binary}")
    return binary


def export_ncnn(onnx_path: Path, shape: tuple[int, ...], outdir: Path) -> tuple[Path, Path]:
    """pnnx ONNX -> ncnn .param/.bin in ``outdir`` (blob names in0 / out0)."""
    outdir.mkdir(parents=True, exist_ok=True)
    local = outdir / "model.onnx"
    shutil.copyfile(onnx_path, local)
    shape_arg = "inputshape=[" + ",".join(map(str, shape)) + "]"
    proc = subprocess.run([str(pnnx_binary()), local.name, shape_arg, "fp16=0"], cwd=outdir,
                          capture_output=True, text=True, timeout=600)
    param, weights = outdir / "model.ncnn.param", outdir / "model.ncnn.bin"
    if proc.returncode != 0 or not param.is_file():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise RuntimeError(f"pnnx exited {proc.returncode}: {' | '.join(tail)}")
    for extra in outdir.iterdir():  # keep only what ncnn loads
        if extra not in (param, weights):
            extra.unlink() if extra.is_file() else shutil.rmtree(extra)
    return param, weights


def export_mnn(onnx_path: Path, path: Path) -> None:
    """MNN's converter, called through its C entry point in a child process."""
    code = ("import sys, _tools; _tools.mnnconvert(['mnnconvert', '-f', 'ONNX', '--modelFile', "
            "sys.argv[1], '--MNNModel', sys.argv[2], '--bizCode', 'bench'])")
    proc = subprocess.run([sys.executable, "-c", code, str(onnx_path), str(path)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not path.is_file() or "Converted Success" not in proc.stdout:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise RuntimeError(f"MNN converter exited {proc.returncode}: {' | '.join(tail)}")


def rel_err(y: np.ndarray, ref: np.ndarray) -> float:
    """max|y - ref| / max|ref|."""
    y = np.asarray(y, np.float64).reshape(-1)
    ref = np.asarray(ref, np.float64).reshape(-1)
    scale = float(np.abs(ref).max()) or 1.0
    return float(np.abs(y - ref).max() / scale)


def onnx_outputs(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Outputs of onnxruntime with graph optimisations off (the ONNX reference)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def export_keras(name: str, outdir: Path, log) -> dict:
    """Build ``name`` and write every format into ``outdir``; returns the manifest fields."""
    side = KERAS_MODELS[name][2]
    model = build_keras(name)
    x = keras_input(name)
    reference = np.asarray(model(x, training=False))
    feeds = {"input": np.ascontiguousarray(x.transpose(0, 3, 1, 2))}
    np.savez(outdir / "feeds.npz", **feeds)
    np.savez(outdir / "reference.npz", out0=reference)
    info: dict = {"source": "keras", "inputs": {"input": [1, 3, side, side]},
                  "reference_from": "keras", "params": int(model.count_params()),
                  "files": {}, "failures": {}}
    steps = [
        ("onnx", lambda: export_onnx(model, side, outdir / "model.onnx")),
        ("tflite", lambda: export_tflite(model, side, outdir / "model.tflite", outdir)),
    ]
    for fmt, step in steps:
        log(f"{name}: {fmt}")
        try:
            step()
            info["files"][fmt] = f"model.{fmt}"
        except Exception as exc:  # one format failing leaves the others usable
            info["failures"][fmt] = f"{type(exc).__name__}: {exc}"
    if "onnx" not in info["files"]:
        return info
    onnx_path = outdir / "model.onnx"
    info["onnx_check_rel_err"] = rel_err(onnx_outputs(onnx_path, feeds)[0], reference)
    log(f"{name}: ncnn (pnnx)")
    try:
        param, weights = export_ncnn(onnx_path, (1, 3, side, side), outdir / "ncnn")
        info["files"]["ncnn_param"] = str(param.relative_to(outdir))
        info["files"]["ncnn_bin"] = str(weights.relative_to(outdir))
    except Exception as exc:
        info["failures"]["ncnn"] = f"{type(exc).__name__}: {exc}"
    log(f"{name}: mnn")
    try:
        export_mnn(onnx_path, outdir / "model.mnn")
        info["files"]["mnn"] = "model.mnn"
    except Exception as exc:
        info["failures"]["mnn"] = f"{type(exc).__name__}: {exc}"
    return info
