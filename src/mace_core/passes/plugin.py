"""Registers the core graph passes, in the order ``mace convert`` runs them."""

from __future__ import annotations

from mace_core._hookspecs import hookimpl
from mace_core.passes.activation_fusion import fuse_activations, fuse_bias
from mace_core.passes.batchnorm_folding import fold_batchnorm
from mace_core.passes.cleanup import cleanup
from mace_core.passes.constant_folding import fold_constants
from mace_core.passes.dead_nodes import remove_dead_nodes
from mace_core.passes.layout import annotate_layout
from mace_core.passes.pattern_fusion import fuse_patterns
from mace_core.specs import PassSpec

PASSES = (
    PassSpec("constant_folding", fold_constants, 10,
             "evaluate nodes whose inputs are constants; Shape/Size of static shapes"),
    PassSpec("cleanup", cleanup, 20,
             "remove Identity/Dropout/no-op Cast/Reshape/Transpose; collapse chains"),
    PassSpec("batchnorm_folding", fold_batchnorm, 30,
             "fold BatchNormalization into the Conv/ConvTranspose/Gemm before it"),
    PassSpec("bias_fusion", fuse_bias, 40,
             "fold Add of a constant into the Conv bias; MatMul + Add -> Gemm"),
    PassSpec("pattern_fusion", fuse_patterns, 45,
             "HardSwish, SiLU (Swish), Gelu and LayerNormalization spelled out as several ops"),
    PassSpec("activation_fusion", fuse_activations, 50,
             "fuse Relu/Clip/LeakyRelu/Sigmoid/Tanh/HardSigmoid/HardSwish/Swish into the producer"),
    PassSpec("dead_nodes", remove_dead_nodes, 90,
             "remove nodes, tensors and constants no graph output depends on"),
    PassSpec("layout", annotate_layout, 100,
             "mark 4-D activations NCHW and record the graph layout"),
)


@hookimpl
def mace_register_passes(register):
    for spec in PASSES:
        register(spec)
