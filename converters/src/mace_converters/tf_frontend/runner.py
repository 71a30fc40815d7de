"""Running the source TensorFlow model with TensorFlow itself, for ``mace validate``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from mace_converters.tf_frontend.loading import (
    KERAS_SUFFIXES,
    is_saved_model,
    keras_input_names,
    keras_output_names,
    load_keras_model,
    load_tf,
    saved_model_signature,
)
from mace_core.errors import ConversionError


def _feed(feeds: dict[str, np.ndarray], name: str, path: Path) -> np.ndarray:
    if name not in feeds:
        given = ", ".join(feeds) or "none"
        raise ConversionError(f"{path}: TensorFlow needs input {name!r} (given: {given})")
    return np.asarray(feeds[name])


def run_tensorflow(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output of the model at ``path`` (names as the frontend gives them)."""
    path = Path(path)
    if is_saved_model(path):
        loaded, signature = saved_model_signature(path)
        names = sorted(signature.structured_input_signature[1])
        result = signature(**{n: tf.constant(_feed(feeds, n, path)) for n in names})
        del loaded
        return {k: np.asarray(v) for k, v in result.items()}
    if path.suffix.lower() in KERAS_SUFFIXES:
        model = load_keras_model(path)
        arrays = [_feed(feeds, n, path) for n in keras_input_names(model)]
        result = model(arrays if len(arrays) > 1 else arrays[0], training=False)
        results = result if isinstance(result, (list, tuple)) else [result]
        return {n: np.asarray(r) for n, r in zip(keras_output_names(model), results,
                                                 strict=True)}
    shapes = {name: tuple(np.shape(array)) for name, array in feeds.items()}
    loaded = load_tf(path, shapes, fold=False)
    with tf.compat.v1.Session(graph=loaded.graph) as session:
        fetches = {user: loaded.graph.get_tensor_by_name(t) for user, t in loaded.outputs.items()}
        feed_dict = {loaded.graph.get_tensor_by_name(f"{op}:0"): _feed(feeds, user, path)
                     for user, op in loaded.inputs.items()}
        return {k: np.asarray(v) for k, v in session.run(fetches, feed_dict).items()}
