"""Loading TensorFlow models as one frozen, constant-folded GraphDef with static shapes.

Three sources: a frozen GraphDef (``.pb``), a SavedModel directory (its serving signature)
and a Keras model (``.keras`` / ``.h5``). SavedModels and Keras models are traced to a
concrete function whose variables are frozen into constants. Grappler's constant folding
then removes training-time arithmetic (unfused batch norms, shape computations) once the
input shapes are static.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2
from tensorflow.python.framework.convert_to_constants import (
    convert_variables_to_constants_v2,
)
from tensorflow.python.grappler import tf_optimizer
from tensorflow.python.training import saver

from mace_core.errors import ConversionError

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
_SKIP_OUTPUT_OPS = frozenset({"Const", "NoOp", "Assert", "Placeholder", "SaveV2", "RestoreV2"})


@attrs.define
class TfGraph:
    """A frozen graph: ``inputs`` maps user-facing input names to Placeholder op names,
    ``outputs`` user-facing output names to tensor names ("node:index")."""

    graph: tf.Graph
    inputs: dict[str, str]
    outputs: dict[str, str]
    kind: str


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


def load_tf(path: Path, input_shapes: dict[str, tuple[int, ...]], fold: bool = True
            ) -> TfGraph:
    """Freeze the model at ``path`` with the given static input shapes; ``fold`` runs
    Grappler's constant folding."""
    path = Path(path)
    if is_saved_model(path):
        graph_def, inputs, outputs = _from_function(*_saved_model_function(path), input_shapes)
        kind = "saved_model"
    elif path.suffix.lower() in KERAS_SUFFIXES:
        graph_def, inputs, outputs = _from_function(*_keras_function(path), input_shapes)
        kind = "keras"
    else:
        graph_def, inputs, outputs = _from_frozen(path, input_shapes)
        kind = "frozen_graph"
    folded = _fold(graph_def, list(outputs.values())) if fold else graph_def
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(folded, name="")
    return TfGraph(graph, inputs, outputs, kind)


def load_keras_model(path: Path) -> Any:
    import keras

    try:
        return keras.models.load_model(str(path), compile=False)
    except Exception as exc:
        raise ConversionError(f"Keras cannot load {path}: {exc}") from None


def saved_model_signature(path: Path) -> Any:
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:
        raise ConversionError(f"TensorFlow cannot load the SavedModel {path}: {exc}") from None
    signatures = dict(loaded.signatures)
    if not signatures:
        raise ConversionError(f"SavedModel {path} has no signatures to convert")
    key = "serving_default" if "serving_default" in signatures else sorted(signatures)[0]
    return loaded, signatures[key]


def keras_input_names(model: Any) -> list[str]:
    return [str(getattr(t, "name", f"input_{i}")).split(":")[0]
            for i, t in enumerate(model.inputs)]


def keras_output_names(model: Any) -> list[str]:
    names = getattr(model, "output_names", None)
    if names and len(names) == len(model.outputs):
        return [str(n) for n in names]
    return [str(getattr(t, "name", f"output_{i}")).split(":")[0]
            for i, t in enumerate(model.outputs)]


def _keras_function(path: Path):
    model = load_keras_model(path)
    names = keras_input_names(model)
    specs = [(name, tuple(t.shape), t.dtype) for name, t in zip(names, model.inputs,
                                                                  strict=True)]

    def call(*args):
        result = model(list(args) if len(args) > 1 else args[0], training=False)
        return result if isinstance(result, (list, tuple)) else [result]

    return call, specs, keras_output_names(model)


def _saved_model_function(path: Path):
    loaded, signature = saved_model_signature(path)
    kwargs = signature.structured_input_signature[1]
    names = sorted(kwargs)
    specs = [(name, tuple(kwargs[name].shape), kwargs[name].dtype) for name in names]
    out_names = sorted(signature.structured_outputs)

    def call(*args):
        assert loaded is not None  # the signature's variables live as long as ``loaded``
        result = signature(**dict(zip(names, args, strict=True)))
        return [result[n] for n in out_names]

    return call, specs, out_names


def _static(name: str, shape: Sequence[int | None], given: dict[str, tuple[int, ...]]
            ) -> list[int]:
    if name in given:
        return [int(d) for d in given[name]]
    dims = list(shape)
    if dims and dims[0] is None:
        dims[0] = 1  # batch of one unless told otherwise
    if any(d is None or d < 0 for d in dims):
        raise ConversionError(f"input {name!r} has dynamic shape {dims}; give its static shape "
                              f"with --input-shape {name}=...")
    return [int(d) for d in dims]


def _from_function(call, specs, out_names: list[str], given: dict[str, tuple[int, ...]]):
    tensor_specs = [tf.TensorSpec(_static(n, s, given), d, name=n) for n, s, d in specs]
    concrete = tf.function(call).get_concrete_function(*tensor_specs)
    frozen = convert_variables_to_constants_v2(concrete)
    inputs = {name: t.op.name for (name, _, _), t in zip(specs, frozen.inputs, strict=False)}
    outputs = {name: t.name for name, t in zip(out_names, frozen.outputs, strict=True)}
    return frozen.graph.as_graph_def(), inputs, outputs


def _from_frozen(path: Path, given: dict[str, tuple[int, ...]]):
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except Exception as exc:
        raise ConversionError(f"{path} is not a frozen TensorFlow GraphDef: {exc}") from None
    consumed = {i.split(":")[0].lstrip("^") for n in graph_def.node for i in n.input}
    inputs: dict[str, str] = {}
    outputs: dict[str, str] = {}
    for node in graph_def.node:
        if node.op == "Placeholder":
            dims = [d.size if d.size >= 0 else None for d in node.attr["shape"].shape.dim]
            if node.attr["shape"].shape.unknown_rank and node.name not in given:
                raise ConversionError(f"input {node.name!r} has unknown rank; give its shape "
                                      f"with --input-shape {node.name}=...")
            shape = _static(node.name, dims, given)
            node.attr["shape"].shape.Clear()
            for d in shape:
                node.attr["shape"].shape.dim.add().size = d
            inputs[node.name] = node.name
        elif node.name not in consumed and node.op not in _SKIP_OUTPUT_OPS:
            outputs[node.name] = f"{node.name}:0"
    if not outputs:
        raise ConversionError(f"{path}: no output found (every node's result is consumed)")
    return graph_def, inputs, outputs


def _fold(graph_def, fetches: list[str]):
    """Grappler constant folding (and dependency pruning) towards ``fetches``."""
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
        meta = saver.export_meta_graph(graph_def=graph.as_graph_def(add_shapes=True),
                                       graph=graph)
    fetch = meta.collection_def["train_op"].node_list.value
    fetch.extend(fetches)
    config = config_pb2.ConfigProto()
    rewrite = config.graph_options.rewrite_options
    rewrite.optimizers[:] = ["constfold", "dependency"]
    rewrite.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
    try:
        return tf_optimizer.OptimizeGraph(config, meta)
    except Exception:  # folding is an optimisation: convert the unfolded graph instead
        return graph_def


def tensor_value(op: Any) -> np.ndarray:
    return tf.make_ndarray(op.get_attr("value"))
