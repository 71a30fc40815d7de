"""A summary of a saved model read from its ``.pb`` alone (for ``mace info``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mace_core.model_format.codec import DTYPE_FROM_PROTO, decode_tensor_desc
from mace_core.model_format.reader import data_path_for, read_model_file


def describe(pb_path: str | Path) -> dict[str, Any]:
    """Format version, producer, file sizes, nodes, op types, inputs/outputs and weights.

    ``weights_bytes`` is what the constants take in the ``.data`` file; ``weights`` is
    ``"fp16"`` when float32 constants are stored as float16 there, else ``"fp32"``. The
    ``.pb`` checksum is verified; the ``.data`` is not read (see ``load_graph``).
    """
    pb_path = Path(pb_path)
    model, pb_size = read_model_file(pb_path)
    op_types: dict[str, int] = {}
    for node in model.graph.nodes:
        op = f"{node.domain}::{node.op_type}" if node.domain else node.op_type
        op_types[op] = op_types.get(op, 0) + 1
    tensors = {t.name: t for t in model.graph.tensors}

    def signature(name: str) -> str:
        return decode_tensor_desc(tensors[name], pb_path).describe() if name in tensors else "?"

    stored: dict[str, int] = {}
    for ref in model.constants:
        key = str(DTYPE_FROM_PROTO.get(ref.stored_dtype, f"code {ref.stored_dtype}"))
        stored[key] = stored.get(key, 0) + 1
    fp16 = any(ref.stored_dtype != ref.dtype for ref in model.constants)
    data_path = data_path_for(pb_path)
    return {
        "name": model.name,
        "format_version": model.format_version,
        "producer": model.producer,
        "pb_bytes": pb_size,
        "data_bytes": model.data_size,
        "data_file": str(data_path) if data_path.exists() else f"{data_path} (missing)",
        "nodes": len(model.graph.nodes),
        "op_types": dict(sorted(op_types.items())),
        "inputs": {name: signature(name) for name in model.graph.inputs},
        "outputs": {name: signature(name) for name in model.graph.outputs},
        "constants": len(model.constants),
        "weights_bytes": sum(ref.nbytes for ref in model.constants),
        "weights": "fp16" if fp16 else "fp32",
        "stored_dtypes": dict(sorted(stored.items())),
        "data_sha256": model.data_sha256.hex(),
        "metadata": dict(sorted(model.metadata.items())),
    }
