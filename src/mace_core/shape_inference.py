"""Shape and dtype inference over a whole graph, driven by the op schemas."""

from __future__ import annotations

import attrs

from mace_core.errors import MaceError, ValidationError
from mace_core.ir import Graph, TensorDesc
from mace_core.registry import Registry
from mace_core.schema import InferContext


def infer_node(graph: Graph, node, registry: Registry) -> list[TensorDesc]:
    schema = registry.schema(node)
    schema.check_arity(node)
    attrs = schema.resolve_attrs(node)
    descs = [graph.desc(name) if name else None for name in node.inputs]
    values = [graph.constants.get(name) if name else None for name in node.inputs]
    ctx = InferContext(node=node, descs=descs, values=values, attrs=attrs)
    try:
        specs = list(schema.infer(ctx))
    except MaceError:
        raise
    except Exception as exc:
        raise ValidationError(
            f"{node}: shape inference failed with inputs "
            f"{[d.describe() if d else None for d in descs]}: {type(exc).__name__}: {exc}"
        ) from exc
    outputs = [o for o in node.outputs]
    if len(specs) < len([o for o in outputs if o]):
        raise ValidationError(
            f"{node}: schema inferred {len(specs)} outputs but the node has {len(outputs)}"
        )
    result = []
    for name, (shape, dtype) in zip(outputs, specs, strict=False):
        if not name:
            continue
        if any(int(d) < 0 for d in shape):
            raise ValidationError(f"{node}: inferred a negative dimension for {name!r}: {shape}")
        result.append(TensorDesc(name, dtype, tuple(int(d) for d in shape)))
    return result


def infer_shapes(graph: Graph, registry: Registry) -> None:
    """Fill ``graph.tensors`` for every node output, in execution order."""
    for name in graph.inputs:
        graph.desc(name)  # inputs must be described by the frontend
    for node in graph.nodes:
        for desc in infer_node(graph, node, registry):
            graph.tensors[desc.name] = keep_annotations(graph.tensors.get(desc.name), desc)


def keep_annotations(old: TensorDesc | None, new: TensorDesc) -> TensorDesc:
    """Re-inference keeps a tensor's layout and quantization when shape and dtype still hold."""
    if old is not None and old.shape == new.shape and old.dtype == new.dtype:
        return attrs.evolve(new, layout=old.layout, quant=old.quant)
    return new
