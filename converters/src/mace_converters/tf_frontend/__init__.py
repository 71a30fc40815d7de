"""The TensorFlow frontend: frozen GraphDef, SavedModel or Keras model -> NCHW mace-core Graph.

The model is frozen and constant-folded (``loading``), then its ops are converted in
graph order by :data:`ops.CONVERTERS`. Inputs keep their names (Placeholder / Keras input
/ signature argument names) and NHWC shapes; outputs are named after the Keras outputs, the
signature's output keys, or the frozen graph's unconsumed nodes.
"""

from __future__ import annotations

from pathlib import Path

from mace_converters.nhwc.builder import LayoutBuilder
from mace_converters.tf_frontend.loading import TfGraph, load_tf, tensor_value
from mace_converters.tf_frontend.ops import CONVERTERS, TfOp
from mace_core.dtypes import DType
from mace_core.errors import ConversionError, UnsupportedOpError
from mace_core.ir import Graph
from mace_core.registry import Registry
from mace_core.specs import ConvertOptions

__all__ = ["CONVERTERS", "convert_tf", "convert_tf_graph"]


def convert_tf(path: Path, options: ConvertOptions, registry: Registry) -> Graph:
    """Convert the TensorFlow model at ``path`` (file or SavedModel directory)."""
    tf_graph = load_tf(Path(path), dict(options.input_shapes))
    graph = convert_tf_graph(tf_graph, options.model_name or Path(path).stem)
    graph.metadata.update({"source_file": Path(path).name, "tf_source": tf_graph.kind})
    return graph


def check_supported(tf_graph: TfGraph) -> None:
    missing: dict[str, list[str]] = {}
    for op in tf_graph.graph.get_operations():
        if op.type not in CONVERTERS and op.type not in ("Const", "Placeholder"):
            missing.setdefault(op.type, []).append(op.name)
    if missing:
        listed = "; ".join(f"{t} ({', '.join(n[:3])}{' ...' if len(n) > 3 else ''})"
                           for t, n in sorted(missing.items()))
        raise UnsupportedOpError(
            f"{len(missing)} TensorFlow op type(s) are not supported: {listed}")


def convert_tf_graph(tf_graph: TfGraph, name: str) -> Graph:
    """Translate a loaded, frozen graph op by op."""
    check_supported(tf_graph)
    placeholders = {op_name: user for user, op_name in tf_graph.inputs.items()}
    b = LayoutBuilder(name, list(tf_graph.outputs))
    shapes: dict[str, tuple[int, ...]] = {}
    for op in tf_graph.graph.get_operations():
        for t in op.outputs:
            dims = t.shape.as_list() if t.shape.rank is not None else []
            shapes[t.name] = tuple(-1 if d is None else int(d) for d in dims)
        out = op.outputs[0].name if op.outputs else op.name
        if op.type == "Placeholder":
            try:
                dtype = DType.from_numpy(op.outputs[0].dtype.as_numpy_dtype)
            except TypeError as exc:
                raise ConversionError(f"input {op.name!r}: {exc}") from None
            b.add_input(out, shapes[out], dtype, name=placeholders.get(op.name, op.name))
        elif op.type == "Const":
            b.add_constant(out, tensor_value(op))
        else:
            ctx = TfOp(b, op, shapes)
            try:
                CONVERTERS[op.type](ctx)
            except ConversionError:
                raise
            except Exception as exc:
                raise ctx.fail(f"{type(exc).__name__}: {exc}") from exc
    for user, tensor in tf_graph.outputs.items():
        b.alias(user, tensor)
    graph = b.finish()
    graph.metadata.update({"source_format": "tensorflow", "source_layout": "nhwc"})
    return graph
