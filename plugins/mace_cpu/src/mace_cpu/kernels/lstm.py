"""LSTM on the cpu device (csrc/lstm.c): float32, constant W, R, B and P, the default
activations (Sigmoid, Tanh, Tanh), optional clip and input_forget, forward, reverse or
bidirectional, layout 0 or 1. Every sequence must run the full length: sequence_lens
absent, or a constant equal to the sequence length everywhere.

The weights of each direction are packed once into a GEMM plan, and each time step is one
product of the batch's [x_t | h] rows with [W | R] plus the cell update, see lstm.c.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mace_core.errors import MaceError
from mace_core.ir import Graph, Node

from mace_cpu import native
from mace_cpu.arena import output_buffer
from mace_cpu.kernels.common import (
    Prepared,
    all_f32,
    check,
    cin,
    f32,
    from_buffer,
    kernel,
    prepared,
    shape,
)
from mace_cpu.threads import pool_for

DEFAULT_ACTIVATIONS = ["sigmoid", "tanh", "tanh"]
DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}


def _input(node: Node, index: int) -> str:
    return node.inputs[index] if len(node.inputs) > index else ""


def accepts_lstm(node: Node, graph: Graph) -> bool:
    a = node.attrs
    direction = a.get("direction", "forward")
    if direction not in DIRECTIONS or int(a.get("layout", 0)) not in (0, 1):
        return False
    dirs = DIRECTIONS[direction]
    names = a.get("activations")
    if names and [str(n).lower() for n in names] != DEFAULT_ACTIVATIONS * dirs:
        return False
    floats = [_input(node, i) for i in (0, 1, 2, 3, 5, 6, 7)] + list(node.outputs)
    if not all_f32(graph, floats) or len(shape(graph, node.inputs[0])) != 3:
        return False
    if any(name and name not in graph.constants for name in
           (_input(node, 1), _input(node, 2), _input(node, 3), _input(node, 7))):
        return False
    lens = _input(node, 4)
    if lens:
        x = shape(graph, node.inputs[0])
        seq = x[1] if int(a.get("layout", 0)) else x[0]
        value = graph.constants.get(lens)
        if value is None or not np.all(np.asarray(value) == seq):
            return False  # shorter sequences: masking, not done here
    clip = a.get("clip")
    return clip is None or float(clip) > 0


def prepare_lstm(node: Node, attrs: dict[str, Any], graph: Graph,
                 options: dict[str, Any]) -> Prepared:
    ffi, lib = native.load()
    layout = int(attrs.get("layout", 0) or 0)
    x = shape(graph, node.inputs[0])
    seq, batch, size = (x[1], x[0], x[2]) if layout else x
    w = f32(graph.constants[node.inputs[1]])
    r = f32(graph.constants[node.inputs[2]])
    dirs, hidden = w.shape[0], r.shape[-1]
    b_name, p_name = _input(node, 3), _input(node, 7)
    b = f32(graph.constants[b_name]) if b_name else None
    p = f32(graph.constants[p_name]) if p_name else None
    clip = attrs.get("clip")
    params = ffi.new("mc_lstm_params *", dict(
        seq=seq, batch=batch, input=size, hidden=hidden, dirs=dirs,
        reverse=int(attrs.get("direction", "forward") == "reverse"), layout=layout,
        input_forget=int(attrs.get("input_forget", 0) or 0),
        clip=0.0 if clip is None else float(clip)))
    isa = native.isa()
    raw = lib.mc_lstm_create(params, cin(w), cin(r), cin(b) if b is not None else ffi.NULL,
                             cin(p) if p is not None else ffi.NULL, native.isa_id(isa))
    if raw == ffi.NULL:
        raise MaceError(f"{node}: could not prepare the cpu LSTM (out of memory?)")
    plan = ffi.gc(raw, lib.mc_lstm_destroy)
    pool = pool_for(options)
    outs = [output_buffer(graph, options, name, shape(graph, name)) if name else None
            for name in node.outputs]
    ptr, null = from_buffer(), ffi.NULL

    def state(inputs, index):
        value = inputs[index] if len(inputs) > index else None
        return null if value is None else ptr("float[]", f32(value))

    def run(inputs):
        made = [None if out is None else (out[0] or out[1]()) for out in outs]
        pointers = [m[1] if m else null for m in made] + [null] * (3 - len(made))
        status = lib.mc_lstm_run(plan, pool.ptr, ptr("float[]", f32(inputs[0])),
                                 state(inputs, 5), state(inputs, 6), *pointers)
        if status:
            check(status, node)
        return tuple(m[0] if m else None for m in made)

    return prepared(run, op="LSTM", isa=isa, threads=pool.count, dirs=dirs, seq=seq)


KERNELS = [kernel("LSTM", prepare_lstm, accepts_lstm)]
