"""The deployable model format: ``<name>.pb`` (graph) + ``<name>.data`` (weights).

``<name>.pb`` is a protobuf ``ModelFile`` (schema: ``mace_model.proto``) wrapping the
serialized ``Model`` and its sha256: format version, producer, nodes, tensor descriptors,
graph inputs/outputs, metadata, and for each constant its place in the ``.data`` file plus
the size and sha256 of that file. ``<name>.data`` is a 64-byte header followed by every
constant at a 64-byte aligned offset; it is memory-mapped at load.

    paths = save_model(graph, "out", weights="fp16")
    graph = load_graph(paths.pb)
"""

from mace_core.model_format.reader import FORMAT_VERSION, data_path_for, load_graph
from mace_core.model_format.writer import ModelPaths, save_model

__all__ = ["FORMAT_VERSION", "ModelPaths", "data_path_for", "load_graph", "save_model"]
