"""Recurrent layers: LSTM, GRU and RNN, one, reversed or both directions.

Shapes (``layout=0``): X is seq x batch x input; W is dirs x gates*hidden x input, R is
dirs x gates*hidden x hidden, B is dirs x 2*gates*hidden (input bias, then recurrence bias).
Outputs: Y seq x dirs x batch x hidden, Y_h (and LSTM's Y_c) dirs x batch x hidden.
``layout=1`` puts batch first in X, Y, Y_h, Y_c and the initial states.
With ``sequence_lens``, steps past a sequence's end leave its state unchanged and write 0 to
Y; the reverse direction starts at each sequence's own last step; a sequence of length 0
has Y_h (and Y_c) 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mace_core.ops import OpDef
from mace_core.ops.conv import compute_dtype
from mace_core.schema import InferContext, OpSchema, OutputSpec

Act = Callable[[np.ndarray], np.ndarray]

# name -> (function(x, alpha, beta), default alpha, default beta); None: takes no such value
_ACTIVATIONS: dict[str, tuple[Callable, float | None, float | None]] = {
    "relu": (lambda x, a, b: np.maximum(x, 0), None, None),
    "tanh": (lambda x, a, b: np.tanh(x), None, None),
    "sigmoid": (lambda x, a, b: 1.0 / (1.0 + np.exp(-x)), None, None),
    "affine": (lambda x, a, b: a * x + b, 1.0, 0.0),
    "leakyrelu": (lambda x, a, b: np.where(x >= 0, x, a * x), 0.01, None),
    "thresholdedrelu": (lambda x, a, b: np.where(x > a, x, 0), 1.0, None),
    "scaledtanh": (lambda x, a, b: a * np.tanh(b * x), 1.0, 1.0),
    "hardsigmoid": (lambda x, a, b: np.clip(a * x + b, 0, 1), 0.2, 0.5),
    "elu": (lambda x, a, b: np.where(x >= 0, x, a * (np.exp(x) - 1)), 1.0, None),
    "softsign": (lambda x, a, b: x / (1 + np.abs(x)), None, None),
    "softplus": (lambda x, a, b: np.logaddexp(0, x), None, None),
}
_DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}
_DEFAULT_ACTIVATIONS = {
    "LSTM": ["Sigmoid", "Tanh", "Tanh"],
    "GRU": ["Sigmoid", "Tanh"],
    "RNN": ["Tanh"],
}
_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _activations(
    op: str,
    names: Sequence[str] | None,
    alphas: Sequence[float] | None,
    betas: Sequence[float] | None,
    dirs: int,
) -> list[list[Act]]:
    """Per direction, the activation functions. alpha / beta values are consumed in order by
    the functions that take them; missing ones take the function's default."""
    per_dir = len(_DEFAULT_ACTIVATIONS[op])
    names = list(names) if names else _DEFAULT_ACTIVATIONS[op] * dirs
    if len(names) == per_dir and dirs == 2:
        names = names * 2
    if len(names) != per_dir * dirs:
        raise ValueError(f"{op} takes {per_dir} activations per direction, got {names}")
    alpha_left, beta_left = list(alphas or []), list(betas or [])
    funcs: list[Act] = []
    for name in names:
        if name.lower() not in _ACTIVATIONS:
            raise ValueError(f"unknown {op} activation {name!r}; known: {', '.join(_ACTIVATIONS)}")
        fn, a, b = _ACTIVATIONS[name.lower()]
        if a is not None and alpha_left:
            a = alpha_left.pop(0)
        if b is not None and beta_left:
            b = beta_left.pop(0)
        funcs.append(lambda x, fn=fn, a=a, b=b: fn(x, a, b))
    return [funcs[i * per_dir : (i + 1) * per_dir] for i in range(dirs)]


def _reverse_index(seq: int, lens: np.ndarray) -> np.ndarray:
    """Time index per (step, batch) that reverses each sequence within its own length."""
    t = np.arange(seq)[:, None]
    return np.where(t < lens[None, :], lens[None, :] - 1 - t, t)


def _run(op: str, x, w, r, b, seq_lens, init_h, init_c, p, attrs) -> tuple[np.ndarray, ...]:
    """Shared driver: layouts, directions, masking; the cell is chosen by ``op``."""
    dtype = x.dtype
    acc = compute_dtype(dtype)
    if attrs["layout"]:
        x = x.transpose(1, 0, 2)
        init_h = None if init_h is None else init_h.transpose(1, 0, 2)
        init_c = None if init_c is None else init_c.transpose(1, 0, 2)
    seq, batch, _ = x.shape
    dirs, gates = w.shape[0], _GATES[op]
    hidden = r.shape[-1]
    acts = _activations(
        op, attrs["activations"], attrs["activation_alpha"], attrs["activation_beta"], dirs
    )
    clip = attrs["clip"]
    lens = np.full(batch, seq, np.int64) if seq_lens is None else seq_lens.astype(np.int64)
    zeros = np.zeros((dirs, batch, hidden), acc)
    h0 = zeros if init_h is None else init_h.astype(acc)
    c0 = zeros if init_c is None else init_c.astype(acc)
    y = np.zeros((seq, dirs, batch, hidden), acc)
    y_h, y_c = np.zeros_like(zeros), np.zeros_like(zeros)
    rows = np.arange(batch)
    for d in range(dirs):
        reverse = attrs["direction"] == "reverse" or d == 1
        order = (
            _reverse_index(seq, lens)
            if reverse
            else np.broadcast_to(np.arange(seq)[:, None], (seq, batch))
        )
        bias = np.zeros(2 * gates * hidden, acc) if b is None else b[d].astype(acc)
        xw = x.astype(acc)[order, rows[None, :]] @ w[d].astype(acc).T + bias[: gates * hidden]
        rd, rb = r[d].astype(acc), bias[gates * hidden :]
        pd = None if p is None else p[d].astype(acc)
        h, c = h0[d], c0[d]
        for t in range(seq):
            live = (t < lens)[:, None]
            if op == "LSTM":
                h_new, c_new = _lstm_cell(
                    xw[t], h, c, rd, rb, pd, acts[d], clip, attrs["input_forget"]
                )
                c = np.where(live, c_new, c)
            elif op == "GRU":
                h_new = _gru_cell(xw[t], h, rd, rb, acts[d], clip, attrs["linear_before_reset"])
            else:
                h_new = acts[d][0](_clip(xw[t] + h @ rd.T + rb, clip))
            h = np.where(live, h_new, h)
            y[t, d] = np.where(live, h_new, 0)
        if reverse:
            y[:, d] = y[:, d][order, rows[None, :]]
        # An empty sequence has no final state: 0, as onnxruntime gives (not initial_h).
        started = (lens > 0)[:, None]
        y_h[d], y_c[d] = np.where(started, h, 0), np.where(started, c, 0)
    if attrs["layout"]:
        y, y_h, y_c = y.transpose(2, 0, 1, 3), y_h.transpose(1, 0, 2), y_c.transpose(1, 0, 2)
    outs = (y, y_h, y_c) if op == "LSTM" else (y, y_h)
    return tuple(o.astype(dtype) for o in outs)


def _clip(v: np.ndarray, clip: float | None) -> np.ndarray:
    return v if clip is None else np.clip(v, -clip, clip)


def _lstm_cell(xw, h, c, r, rb, p, acts, clip, input_forget):
    f, g, hf = acts
    gi, go, gf, gc = np.split(xw + h @ r.T + rb, 4, axis=-1)
    if p is not None:
        pi, po, pf = np.split(p, 3)
        gi, gf = gi + pi * c, gf + pf * c
    i = f(_clip(gi, clip))
    forget = 1 - i if input_forget else f(_clip(gf, clip))
    c_new = forget * c + i * g(_clip(gc, clip))
    if p is not None:
        go = go + po * c_new
    return f(_clip(go, clip)) * hf(c_new), c_new


def _gru_cell(xw, h, r, rb, acts, clip, linear_before_reset):
    f, g = acts
    xz, xr, xh = np.split(xw, 3, axis=-1)
    rz, rr, rh = np.split(r, 3, axis=0)
    bz, br, bh = np.split(rb, 3)
    z = f(_clip(xz + h @ rz.T + bz, clip))
    reset = f(_clip(xr + h @ rr.T + br, clip))
    if linear_before_reset:
        cand = g(_clip(xh + reset * (h @ rh.T + bh), clip))
    else:
        cand = g(_clip(xh + (reset * h) @ rh.T + bh, clip))
    return (1 - z) * cand + z * h


def lstm(x, w, r, b=None, sequence_lens=None, initial_h=None, initial_c=None, p=None, **attrs):
    """LSTM with gates ordered i, o, f, c; peepholes P ordered i, o, f."""
    return _run("LSTM", x, w, r, b, sequence_lens, initial_h, initial_c, p, attrs)


def gru(x, w, r, b=None, sequence_lens=None, initial_h=None, **attrs):
    """GRU with gates ordered z, r, h."""
    return _run("GRU", x, w, r, b, sequence_lens, initial_h, None, None, attrs)


def rnn(x, w, r, b=None, sequence_lens=None, initial_h=None, **attrs):
    """Simple RNN: H = f(X W^T + H R^T + Wb + Rb)."""
    return _run("RNN", x, w, r, b, sequence_lens, initial_h, None, None, attrs)


def _infer(op: str) -> Callable[[InferContext], list[OutputSpec]]:
    def infer(ctx: InferContext) -> list[OutputSpec]:
        a = ctx.attrs
        if a["direction"] not in _DIRECTIONS:
            raise ctx.fail(
                f"direction must be forward, reverse or bidirectional, got {a['direction']!r}"
            )
        dirs, gates = _DIRECTIONS[a["direction"]], _GATES[op]
        x, w, r = (tuple(ctx.shape(i)) for i in range(3))
        if len(x) != 3:
            raise ctx.fail(f"input 0 (X) must have rank 3, got {list(x)}")
        seq, batch, size = (x[1], x[0], x[2]) if a["layout"] else x
        hidden = a["hidden_size"] if a["hidden_size"] is not None else (r[-1] if r else 0)
        state = (batch, dirs, hidden) if a["layout"] else (dirs, batch, hidden)
        expected = {
            1: ("W", (dirs, gates * hidden, size)),
            2: ("R", (dirs, gates * hidden, hidden)),
            3: ("B", (dirs, 2 * gates * hidden)),
            4: ("sequence_lens", (batch,)),
            5: ("initial_h", state),
            6: ("initial_c", state),
            7: ("P", (dirs, 3 * hidden)),
        }
        for i in range(1, len(ctx.descs)):
            if ctx.has_input(i) and tuple(ctx.shape(i)) != expected[i][1]:
                raise ctx.fail(
                    f"input {i} ({expected[i][0]}) must have shape {list(expected[i][1])} "
                    f"(direction={a['direction']}, hidden_size={hidden}), "
                    f"got {list(ctx.shape(i))}"
                )
        try:
            _activations(op, a["activations"], None, None, dirs)
        except ValueError as exc:
            raise ctx.fail(str(exc)) from None
        y = (batch, seq, dirs, hidden) if a["layout"] else (seq, dirs, batch, hidden)
        dt = ctx.dtype(0)
        return [(y, dt), (state, dt), (state, dt)][: 3 if op == "LSTM" else 2]

    return infer


_COMMON = {
    "activation_alpha": None,
    "activation_beta": None,
    "activations": None,
    "clip": None,
    "direction": "forward",
    "hidden_size": None,
    "layout": 0,
    "output_sequence": 0,  # opset 1: Y is always computed here
}

OPS = [
    OpDef(
        OpSchema(
            "LSTM",
            _infer("LSTM"),
            num_inputs=(3, 8),
            num_outputs=(0, 3),
            attrs={**_COMMON, "input_forget": 0},
            doc="long short-term memory layer; outputs Y, Y_h, Y_c",
        ),
        lstm,
    ),
    OpDef(
        OpSchema(
            "GRU",
            _infer("GRU"),
            num_inputs=(3, 6),
            num_outputs=(0, 2),
            attrs={**_COMMON, "linear_before_reset": 0},
            doc="gated recurrent unit layer; outputs Y, Y_h",
        ),
        gru,
    ),
    OpDef(
        OpSchema(
            "RNN",
            _infer("RNN"),
            num_inputs=(3, 6),
            num_outputs=(0, 2),
            attrs=dict(_COMMON),
            doc="simple recurrent layer; outputs Y, Y_h",
        ),
        rnn,
    ),
]
