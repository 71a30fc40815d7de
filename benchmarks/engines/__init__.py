"""One module per engine, each with the same interface:

* ``SETTINGS``: how the engine is configured, in words (for the report);
* ``FORMAT``: the manifest file key the engine loads (``onnx``, ``tflite``, ...);
* ``load(model, threads) -> runner``: ``model`` is the manifest (``model["dir"]`` is its
  folder); the runner has ``prepare(feeds) -> native`` (untimed: layout changes and native
  tensor objects), ``run(native) -> list[np.ndarray]`` (timed: input copy-in, inference,
  outputs copied out as numpy, in the model's output order) and ``info() -> dict``.

Each engine is imported and run only inside its own worker process (``worker.py``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

ENGINES = ("mace", "onnxruntime", "litert", "ncnn", "mnn")
PEERS = ("onnxruntime", "litert", "ncnn", "mnn")


def engine_module(name: str) -> ModuleType:
    """The engine's module (imports the engine's library)."""
    if name not in ENGINES:
        raise KeyError(f"unknown engine {name!r}; known: {', '.join(ENGINES)}")
    return importlib.import_module(f"engines.{name}")


def model_path(model: dict, key: str) -> str:
    """Absolute path of the manifest's file ``key``; KeyError naming why it is missing."""
    files = model.get("files", {})
    if key not in files:
        why = model.get("failures", {}).get(key.split("_")[0], "not built for this model")
        raise KeyError(f"no {key} file for {model.get('name')}: {why}")
    return f"{model['dir']}/{files[key]}"
