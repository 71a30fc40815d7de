"""A Conv over one input channel of one row with many filters, as a framed signal times a
filter bank: the STFT / constant-Q front ends of audio models (silero-vad: 258 filters of
256 taps, stride 128; basic-pitch: 36 filters of 256 taps, strides 1 to 256).

The general Conv plan takes one input channel for a depthwise conv (a direct kernel of
256 taps per output channel); here the conv is one GEMM instead. Per image, the frames
F (OW x K, F[j, k] = x[j * stride + k * dilation], one strided box copy from the signal,
zero-padded first when the Conv pads) times the filters packed once as B (K x M), with
bias and fused activation, gives Y^T (OW x M; few frames run on the skinny kernel); a
second box copy transposes it into the N x M x OW output. 1-D (N x 1 x L) and 2-D
(N x 1 x 1 x W, kernel 1 x K) Convs alike; priority above the general Conv kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mace_core.errors import MaceError
from mace_core.ir import Graph, Node
from mace_core.specs import KernelSpec

from mace_cpu import native
from mace_cpu.arena import output_buffer
from mace_cpu.kernels.common import (
    DEVICE,
    PRIORITY,
    Prepared,
    activation,
    check,
    cin,
    f32,
    from_buffer,
    prepared,
    shape,
)
from mace_cpu.kernels.conv import accepts_conv, as_2d, conv_geometry
from mace_cpu.kernels.gemm import BIAS_COL, BIAS_NONE
from mace_cpu.kernels.layout import Copies
from mace_cpu.threads import pool_for

MIN_FILTERS = 8  # fewer output channels: the depthwise kernel of the general plan is better
MAX_FRAMES_BYTES = 16 << 20


def _geometry(node: Node, graph: Graph, attrs: dict[str, Any]) -> dict[str, int]:
    return conv_geometry(*as_2d(shape(graph, node.inputs[0]), shape(graph, node.inputs[1]),
                                attrs))


def accepts_filterbank(node: Node, graph: Graph) -> bool:
    if not accepts_conv(node, graph):
        return False
    geo = _geometry(node, graph, node.attrs)
    # the one output row must read the one input row (with a top pad it reads padding)
    return (geo["c"] == 1 and geo["group"] == 1 and geo["h"] == 1 and geo["kh"] == 1
            and geo["oh"] == 1 and geo["pt"] == 0 and geo["m"] >= MIN_FILTERS
            and geo["ow"] * geo["kw"] * 4 <= MAX_FRAMES_BYTES)


def prepare_filterbank(node: Node, attrs: dict[str, Any], graph: Graph,
                       options: dict[str, Any]) -> Prepared:
    ffi, lib = native.load()
    geo = _geometry(node, graph, attrs)
    n, width, m, k, ow = geo["n"], geo["w"], geo["m"], geo["kw"], geo["ow"]
    left = geo["pl"]
    right = max(0, (ow - 1) * geo["sw"] + (k - 1) * geo["dw"] + 1 - left - width)
    act, act_a, act_b = activation(attrs)
    weight = f32(graph.constants[node.inputs[1]]).reshape(m, k)
    bias_name = node.inputs[2] if len(node.inputs) > 2 else ""
    bias = f32(graph.constants[bias_name]).reshape(-1) if bias_name else None
    params = ffi.new("mc_gemm_params *", dict(
        m=ow, n=m, k=k, trans_a=0, trans_b=1, alpha=1.0, beta=1.0,
        bias_kind=BIAS_COL if bias is not None else BIAS_NONE, act=act, act_a=act_a, act_b=act_b))
    isa = native.isa()
    raw = lib.mc_gemm_create(params, cin(weight), native.isa_id(isa))  # B = W^T, packed
    if raw == ffi.NULL:
        raise MaceError(f"{node}: could not prepare the cpu filter bank (out of memory?)")
    plan = ffi.gc(raw, lib.mc_gemm_destroy)
    pool = pool_for(options)
    ptr = from_buffer()
    padded = left > 0 or right > 0
    # scratch of the kernel: the zero-padded signal (its pads stay 0), frames, Y^T
    signal = np.zeros(left + width + right, np.float32) if padded else None
    frames, yt = np.empty((ow, k), np.float32), np.empty((ow, m), np.float32)
    p_signal = ptr("float[]", signal, require_writable=True) if padded else None
    p_frames = ptr("float[]", frames, require_writable=True)
    p_yt = ptr("float[]", yt, require_writable=True)
    p_bias = cin(bias) if bias is not None else ffi.NULL
    into_signal, framing, transpose = Copies(pool), Copies(pool), Copies(pool)
    into_signal.add([width], 0, [1], left, [1])
    framing.add([ow, k], 0, [geo["sw"], geo["dw"]], 0, [k, 1])
    transpose.add([m, ow], 0, [1, m], 0, [ow, 1])
    out_shape = shape(graph, node.outputs[0])
    slot, new = output_buffer(graph, options, node.outputs[0], out_shape)
    image_in, image_out = width, m * ow

    def run(inputs):
        y, py = slot or new()
        px = ptr("float[]", f32(inputs[0]))
        for i in range(n):
            src = px + i * image_in
            if padded:
                into_signal.run(node, [src], [p_signal])
                src = p_signal
            framing.run(node, [src], [p_frames])
            status = lib.mc_gemm_run(plan, pool.ptr, p_frames, ffi.NULL, p_bias, p_yt)
            if status:
                check(status, node)
            transpose.run(node, [p_yt], [py + i * image_out])
        return (y,)

    run.keep = (weight, bias, signal, frames, yt)  # type: ignore[attr-defined]
    return prepared(run, op="Conv", algo="filterbank", isa=isa, threads=pool.count,
                    frames=(ow, k), filters=m)


KERNELS = [KernelSpec(op_type="Conv", device=DEVICE, prepare=prepare_filterbank,
                      when=accepts_filterbank, priority=PRIORITY + 1, name="cpu:Conv")]
