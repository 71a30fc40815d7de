"""Neural-network ops: reference kernels and shape inference, called directly.

Each case builds a one-node ONNX model, runs our kernel (attributes resolved through the
schema) and our shape inference, and compares both with onnxruntime. The ONNX backend node
tests for these op types run against the kernels as well, with an explicit exclusion list.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from mace_core.dtypes import DType  # noqa: E402
from mace_core.errors import ValidationError  # noqa: E402
from mace_core.ir import Node, TensorDesc  # noqa: E402
from mace_core.ops import OpDef  # noqa: E402
from mace_core.schema import InferContext  # noqa: E402

MODULES = ("conv", "conv_transpose", "gemm", "normalization", "pooling", "softmax",
           "recurrent", "resize", "depth_space", "pad")
OPS: dict[str, OpDef] = {
    op.schema.op_type: op
    for name in MODULES
    for op in importlib.import_module(f"mace_core.ops.{name}").OPS
}


# -- running one node -------------------------------------------------------------------
def to_node(proto: onnx.NodeProto) -> Node:
    """Our IR node for an ONNX node, attributes as the frontend gives them."""
    attrs = {}
    for attr in proto.attribute:
        value = helper.get_attribute_value(attr)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        elif isinstance(value, TensorProto):
            value = numpy_helper.to_array(value)
        attrs[attr.name] = value
    return Node(proto.name or proto.op_type, proto.op_type, list(proto.input),
                list(proto.output), attrs)


def infer(proto: onnx.NodeProto, inputs: Sequence[np.ndarray | None]) -> list:
    """Our inferred (shape, dtype) per output; every input value is known."""
    node = to_node(proto)
    schema = OPS[node.op_type].schema
    schema.check_arity(node)
    descs = [None if a is None else TensorDesc(f"in{i}", DType.from_numpy(a.dtype), a.shape)
             for i, a in enumerate(inputs)]
    ctx = InferContext(node, descs, list(inputs), schema.resolve_attrs(node))
    return list(schema.infer(ctx))


def run_kernel(proto: onnx.NodeProto, inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    node = to_node(proto)
    op = OPS[node.op_type]
    out = op.reference(*inputs, **op.schema.resolve_attrs(node))
    out = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o, name in zip(out, node.outputs, strict=False) if name]


def run_ort(proto: onnx.NodeProto, inputs: Sequence[np.ndarray | None],
            opset: int) -> list[np.ndarray]:
    present = [(n, a) for n, a in zip(proto.input, inputs, strict=False) if n and a is not None]
    graph = helper.make_graph(
        [proto], "g",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
         for n, a in present],
        [helper.make_empty_tensor_value_info(o) for o in proto.output if o],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, dict(present))


def assert_matches(ours: Sequence[np.ndarray], expected: Sequence[np.ndarray],
                   specs: Sequence | None = None, rtol: float = 1e-4, atol: float = 1e-5) -> None:
    assert len(ours) == len(expected), f"{len(ours)} outputs, expected {len(expected)}"
    for i, (a, e) in enumerate(zip(ours, expected, strict=True)):
        e = np.asarray(e)
        assert a.shape == e.shape, f"output {i}: shape {a.shape}, expected {e.shape}"
        assert a.dtype == e.dtype, f"output {i}: dtype {a.dtype}, expected {e.dtype}"
        if specs is not None:
            shape, dtype = specs[i]
            assert tuple(shape) == e.shape, f"output {i}: inferred {shape}, actual {e.shape}"
            assert dtype.numpy == e.dtype, f"output {i}: inferred {dtype}, actual {e.dtype}"
        scale = max(1.0, float(np.max(np.abs(e), initial=0))) if e.dtype.kind == "f" else 0
        if e.dtype.kind == "f":
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol * scale, err_msg=f"output {i}")
        else:
            np.testing.assert_array_equal(a, e, err_msg=f"output {i}")


def check(op_type: str, inputs: Sequence[np.ndarray | None], opset: int = 17,
          n_out: int = 1, **attrs) -> list[np.ndarray]:
    """Kernel and inference vs onnxruntime for one node; returns our outputs."""
    names = [f"x{i}" if a is not None else "" for i, a in enumerate(inputs)]
    while names and not names[-1]:
        names.pop()
    proto = helper.make_node(op_type, names, [f"y{i}" for i in range(n_out)], **attrs)
    expected = run_ort(proto, inputs, opset)
    ours = run_kernel(proto, inputs)
    assert_matches(ours, expected, infer(proto, inputs))
    return ours


RNG = np.random.default_rng(1234)


def rand(*shape: int, dtype=np.float32) -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


# -- the ONNX backend node tests --------------------------------------------------------
# onnx.backend.test.case.node modules holding the cases of our op types.
CASE_MODULES = (
    "averagepool", "batch_normalization", "conv", "convtranspose", "depthtospace", "gemm",
    "globalaveragepool", "globalmaxpool", "gru", "hardmax", "instance_normalization",
    "layernormalization", "logsoftmax", "lppool", "lstm", "matmul", "maxpool", "pad",
    "resize", "rnn", "softmax", "spacetodepth", "upsample",
)

# Cases that must fail, each with the reason and the error it fails with.
_ALIGN_CORNERS = (
    "the expected data maps align_corners coordinates with the fractional output length "
    "(scale * input length); onnxruntime and PyTorch use the integer output length, as we do "
    "(test_resize_align_corners_matches_onnxruntime checks this case)",
    AssertionError,
)
EXCLUDED: dict[str, tuple[str, type[Exception]]] = {
    "test_batchnorm_example_training_mode": ("training mode: inference only", ValidationError),
    "test_batchnorm_epsilon_training_mode": ("training mode: inference only", ValidationError),
    "test_resize_downsample_scales_linear_antialias": ("antialias=1", ValidationError),
    "test_resize_downsample_sizes_linear_antialias": ("antialias=1", ValidationError),
    "test_resize_downsample_scales_cubic_antialias": ("antialias=1", ValidationError),
    "test_resize_downsample_sizes_cubic_antialias": ("antialias=1", ValidationError),
    "test_resize_downsample_scales_linear_align_corners": _ALIGN_CORNERS,
    "test_resize_downsample_scales_cubic_align_corners": _ALIGN_CORNERS,
}
# The expected output of this case is rounded to 4 decimals in the ONNX test data.
TOLERANCE = {"test_averagepool_2d_ceil_last_window_starts_on_pad": (1e-3, 1e-4)}


def _shipped_cases() -> list[tuple[str, onnx.ModelProto, list, list]]:
    root = Path(onnx.__file__).parent / "backend" / "test" / "data" / "node"
    cases = []
    for path in sorted(root.glob("test_*")) if root.is_dir() else []:
        model = onnx.load(str(path / "model.onnx"))
        if len(model.graph.node) != 1 or model.graph.node[0].op_type not in OPS:
            continue
        data = path / "test_data_set_0"
        ins, outs = ([numpy_helper.to_array(onnx.load_tensor(str(p)))
                      for p in sorted(data.glob(f"{kind}_*.pb"))] for kind in ("input", "output"))
        cases.append((path.name, model, ins, outs))
    return cases


def _generated_cases() -> list[tuple[str, onnx.ModelProto, list, list]]:
    """Run the generators the data is made from (wheels without the data ship them)."""
    import onnx.backend.test.case.node as node_cases
    from onnx.backend.test.case.base import Base

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        modules = [importlib.import_module(f"{node_cases.__name__}.{m}") for m in CASE_MODULES]
        saved = (list(node_cases._NodeTestCases), dict(node_cases._existing_names),
                 node_cases._TargetOpType)
        try:
            node_cases._NodeTestCases.clear()
            node_cases._existing_names.clear()
            node_cases._TargetOpType = None
            for module in modules:
                for cls in vars(module).values():
                    if isinstance(cls, type) and issubclass(cls, Base) and cls is not Base:
                        np.random.seed(0)
                        for name in vars(cls):
                            if name.startswith("export"):
                                getattr(cls, name)()
            generated = list(node_cases._NodeTestCases)
        finally:
            node_cases._NodeTestCases[:] = saved[0]
            node_cases._existing_names.clear()
            node_cases._existing_names.update(saved[1])
            node_cases._TargetOpType = saved[2]
    cases = []
    for case in generated:
        nodes = case.model.graph.node
        if len(nodes) == 1 and nodes[0].op_type in OPS:
            inputs, outputs = case.data_sets[0]
            cases.append((case.name, case.model, list(inputs), list(outputs)))
    return cases


BACKEND_CASES = _shipped_cases() or _generated_cases()


def _backend_params():
    for name, model, inputs, outputs in BACKEND_CASES:
        marks = ()
        if name in EXCLUDED:
            reason, error = EXCLUDED[name]
            marks = pytest.mark.xfail(reason=reason, raises=error, strict=True)
        yield pytest.param(model, inputs, outputs, id=name, marks=marks)


@pytest.mark.parametrize(("model", "inputs", "outputs"), list(_backend_params()))
def test_backend_node_case(request, model, inputs, outputs):
    proto = model.graph.node[0]
    names = [v.name for v in model.graph.input]
    by_name = dict(zip(names, inputs, strict=True))
    args = [by_name[n] if n else None for n in proto.input]
    specs = infer(proto, args)
    ours = run_kernel(proto, args)
    rtol, atol = TOLERANCE.get(request.node.callspec.id, (1e-4, 1e-5))
    present = [s for s, o in zip(specs, proto.output, strict=False) if o]
    assert_matches(ours, outputs, present, rtol=rtol, atol=atol)


def test_backend_cases_cover_every_op():
    """The node suite reaches every op type it has cases for (guards against a silent
    loader failure)."""
    covered = {model.graph.node[0].op_type for _, model, _, _ in BACKEND_CASES}
    assert len(BACKEND_CASES) >= 200
    assert covered >= set(OPS) - {"GlobalLpPool"}


# -- Conv and ConvTranspose vs onnxruntime -------------------------------------------------
@pytest.mark.parametrize(
    ("x_shape", "w_shape", "attrs"),
    [
        ((2, 4, 9, 8), (6, 2, 3, 3), dict(group=2, strides=[2, 1], pads=[1, 0, 2, 1],
                                          dilations=[1, 2])),
        ((1, 8, 10, 10), (8, 1, 3, 3), dict(group=8, auto_pad="SAME_UPPER", strides=[2, 2])),
        ((1, 8, 11, 10), (16, 1, 3, 3), dict(group=8, auto_pad="SAME_LOWER", strides=[2, 3])),
        ((1, 3, 9, 9), (4, 3, 3, 2), dict(auto_pad="VALID", strides=[2, 2])),
        ((1, 6, 7, 7), (5, 6, 1, 1), dict(kernel_shape=[1, 1])),
        ((1, 3, 12), (4, 3, 3), dict(pads=[2, 1], dilations=[3])),
        ((1, 2, 5, 6, 7), (3, 2, 2, 3, 2), dict(pads=[1, 0, 1, 0, 1, 1], strides=[1, 2, 1])),
    ],
)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_matches_onnxruntime(x_shape, w_shape, attrs, bias):
    b = rand(w_shape[0]) if bias else None
    check("Conv", [rand(*x_shape), rand(*w_shape), b], **attrs)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "attrs"),
    [
        ((2, 4, 5, 4), (4, 3, 3, 3), dict(group=2, strides=[2, 1], pads=[1, 0, 2, 1],
                                          dilations=[1, 2])),
        ((1, 4, 5, 5), (4, 2, 3, 3), dict(strides=[2, 2], output_padding=[1, 0])),
        ((1, 4, 5, 5), (4, 2, 3, 3), dict(strides=[2, 2], output_shape=[10, 11])),
        ((1, 4, 5, 5), (4, 2, 4, 4), dict(strides=[2, 2], auto_pad="SAME_UPPER")),
        ((1, 4, 5, 5), (4, 2, 4, 4), dict(strides=[2, 2], auto_pad="SAME_LOWER")),
        ((1, 3, 7), (3, 4, 2), dict()),
        ((1, 2, 3, 4, 3), (2, 3, 2, 3, 2), dict(pads=[1, 0, 1, 0, 1, 1], strides=[1, 2, 3])),
        ((1, 6, 4, 4), (6, 1, 3, 3), dict(group=6, strides=[2, 2], pads=[1, 1, 1, 1],
                                          output_padding=[1, 1])),
    ],
)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose_matches_onnxruntime(x_shape, w_shape, attrs, bias):
    b = rand(w_shape[1] * attrs.get("group", 1)) if bias else None
    check("ConvTranspose", [rand(*x_shape), rand(*w_shape), b], **attrs)


def test_conv_transpose_same_upper_odd_padding_follows_the_spec():
    """SAME_UPPER puts the odd padding element at the end (the ONNX spec and its reference
    evaluator; onnxruntime puts it at the start)."""
    from onnx.reference import ReferenceEvaluator

    x, w = rand(1, 2, 4, 4), rand(2, 3, 3, 3)
    proto = helper.make_node("ConvTranspose", ["x0", "x1"], ["y0"], strides=[2, 2],
                             auto_pad="SAME_UPPER")
    graph = helper.make_graph([proto], "g", [helper.make_tensor_value_info(n, 1, None)
                                             for n in ("x0", "x1")],
                              [helper.make_empty_tensor_value_info("y0")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    expected = ReferenceEvaluator(model).run(None, {"x0": x, "x1": w})
    assert_matches(run_kernel(proto, [x, w]), expected, infer(proto, [x, w]))


@pytest.mark.parametrize(
    ("activation", "params", "fn"),
    [
        ("Relu", [], lambda y: np.maximum(y, 0)),
        ("Clip", [0.0, 6.0], lambda y: np.clip(y, 0, 6)),
        ("LeakyRelu", [0.2], lambda y: np.where(y >= 0, y, 0.2 * y)),
        ("Sigmoid", [], lambda y: 1 / (1 + np.exp(-y))),
    ],
)
@pytest.mark.parametrize("op_type", ["Conv", "ConvTranspose", "Gemm", "MatMul"])
def test_fused_activation_equals_activation_after_op(op_type, activation, params, fn):
    shapes = {"Conv": [(1, 3, 6, 6), (4, 3, 3, 3)], "ConvTranspose": [(1, 3, 4, 4), (3, 2, 3, 3)],
              "Gemm": [(3, 5), (5, 4)], "MatMul": [(2, 3, 5), (5, 4)]}[op_type]
    inputs = [rand(*s) for s in shapes]
    plain = helper.make_node(op_type, ["x0", "x1"], ["y0"])
    extra = {"activation_params": params} if params else {}
    fused = helper.make_node(op_type, ["x0", "x1"], ["y0"], activation=activation, **extra)
    expected = run_ort(plain, inputs, 17)[0]
    assert_matches(run_kernel(fused, inputs), [fn(expected).astype(np.float32)],
                   infer(fused, inputs))


# -- Gemm and MatMul ---------------------------------------------------------------------
@pytest.mark.parametrize("trans", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("c_shape", [None, (), (4,), (3, 1), (1, 4), (3, 4)])
def test_gemm_matches_onnxruntime(trans, c_shape):
    a = rand(5, 3) if trans[0] else rand(3, 5)
    b = rand(4, 5) if trans[1] else rand(5, 4)
    c = None if c_shape is None else rand(*c_shape)
    check("Gemm", [a, b, c], alpha=0.7, beta=1.3, transA=trans[0], transB=trans[1])


@pytest.mark.parametrize(
    ("a", "b"),
    [((3, 4), (4, 5)), ((4,), (4,)), ((4,), (2, 4, 3)), ((2, 3, 5, 4), (4,)),
     ((2, 1, 3, 4), (5, 4, 2)), ((1, 3, 4), (2, 4, 6))],
)
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_matmul_matches_onnxruntime(a, b, dtype):
    check("MatMul", [(rand(*a) * 3).astype(dtype), (rand(*b) * 3).astype(dtype)])


# -- normalizations ----------------------------------------------------------------------
def _positive(*shape: int) -> np.ndarray:
    return RNG.uniform(0.5, 1.5, shape).astype(np.float32)


@pytest.mark.parametrize("x_shape", [(4, 3), (2, 3, 5), (2, 3, 4, 5), (1, 3, 2, 3, 2)])
@pytest.mark.parametrize("opset", [7, 9, 15])
def test_batch_normalization_matches_onnxruntime(x_shape, opset):
    c = x_shape[1]
    check("BatchNormalization", [rand(*x_shape), _positive(c), rand(c), rand(c), _positive(c)],
          opset=opset, epsilon=1e-3)


@pytest.mark.parametrize("x_shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 2, 4)])
def test_instance_normalization_matches_onnxruntime(x_shape):
    c = x_shape[1]
    check("InstanceNormalization", [rand(*x_shape), rand(c), rand(c)], epsilon=1e-4)


@pytest.mark.parametrize(("x_shape", "axis"), [((2, 3, 4), -1), ((2, 3, 4), 1), ((2, 3, 4, 5), 2),
                                               ((6, 8), 0), ((2, 3, 4), -3)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n_out", [1, 3])
def test_layer_normalization_matches_onnxruntime(x_shape, axis, bias, n_out):
    norm = x_shape[axis % len(x_shape):]
    check("LayerNormalization", [rand(*x_shape), rand(*norm), rand(*norm) if bias else None],
          n_out=n_out, axis=axis, epsilon=1e-3)


# -- pooling -----------------------------------------------------------------------------
POOL_CASES = [
    ((1, 2, 7, 8), dict(kernel_shape=[3, 3])),
    ((2, 3, 7, 8), dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 1])),
    ((1, 2, 7, 8), dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
    ((1, 2, 8, 8), dict(kernel_shape=[2, 3], strides=[3, 2], pads=[1, 1, 0, 1], ceil_mode=1)),
    ((1, 2, 7, 8), dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")),
    ((1, 2, 7, 8), dict(kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_LOWER")),
    ((1, 2, 7, 8), dict(kernel_shape=[2, 3], auto_pad="VALID", strides=[1, 2])),
    ((1, 2, 9, 9), dict(kernel_shape=[2, 2], dilations=[2, 3], pads=[1, 1, 1, 1])),
    ((1, 3, 11), dict(kernel_shape=[4], strides=[3], pads=[2, 1])),
    ((1, 2, 5, 6, 4), dict(kernel_shape=[2, 3, 2], strides=[2, 1, 2], pads=[1, 0, 0, 0, 1, 1])),
]


@pytest.mark.parametrize(("x_shape", "attrs"), POOL_CASES)
def test_max_pool_matches_onnxruntime(x_shape, attrs):
    n_out = 1 if attrs.get("dilations") or len(x_shape) != 4 else 2
    check("MaxPool", [rand(*x_shape)], opset=12, n_out=n_out, **attrs)


def test_max_pool_indices_storage_order_and_integers():
    x = rand(2, 3, 6, 7)
    check("MaxPool", [x], opset=12, n_out=2, kernel_shape=[3, 2], strides=[2, 2],
          pads=[1, 0, 1, 1], storage_order=1)
    for dtype in (np.uint8, np.int8):
        xi = RNG.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, (1, 2, 6, 7)).astype(dtype)
        check("MaxPool", [xi], opset=12, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])


@pytest.mark.parametrize(("x_shape", "attrs"), POOL_CASES)
@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_average_pool_matches_onnxruntime(x_shape, attrs, count_include_pad):
    check("AveragePool", [rand(*x_shape)], opset=19, count_include_pad=count_include_pad,
          **attrs)


@pytest.mark.parametrize(("x_shape", "attrs"), [c for c in POOL_CASES if "ceil_mode" not in c[1]])
@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_pool_matches_onnxruntime(x_shape, attrs, p):
    attrs = {k: v for k, v in attrs.items() if k != "dilations"}  # not in onnxruntime yet
    check("LpPool", [rand(*x_shape)], opset=11, p=p, **attrs)


@pytest.mark.parametrize("op_type", ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
@pytest.mark.parametrize("x_shape", [(2, 3, 5), (1, 4, 3, 5), (1, 2, 3, 2, 4)])
def test_global_pools_match_onnxruntime(op_type, x_shape):
    check(op_type, [rand(*x_shape)], opset=2 if op_type == "GlobalLpPool" else 17)


# -- softmax family ----------------------------------------------------------------------
@pytest.mark.parametrize("op_type", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_softmax_family_matches_onnxruntime(op_type, axis):
    x = rand(2, 3, 4) * 5
    x[0, 0, :2] = 7.0  # ties: Hardmax takes the first
    check(op_type, [x], opset=13, axis=axis)


@pytest.mark.parametrize("op_type", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("axis", [None, 0, 2, -1])
def test_softmax_family_opset_11_flattens_to_2d(op_type, axis):
    """Opset < 13 coerces to 2-D around axis (default 1): the frontend sets axis explicitly
    and legacy_2d=1."""
    x = rand(2, 3, 4) * 5
    given = {} if axis is None else {"axis": axis}
    onnx_node = helper.make_node(op_type, ["x0"], ["y0"], **given)
    ours = helper.make_node(op_type, ["x0"], ["y0"], axis=1 if axis is None else axis,
                            legacy_2d=1)
    expected = run_ort(onnx_node, [x], 11)
    assert_matches(run_kernel(ours, [x]), expected, infer(ours, [x]))


# -- recurrent layers --------------------------------------------------------------------
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _recurrent_inputs(op_type, direction, seq=5, batch=3, size=4, hidden=6, *, lens=False,
                      initial=False, peepholes=False, layout=0):
    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op_type]
    x = rand(batch, seq, size) if layout else rand(seq, batch, size)
    state = (batch, dirs, hidden) if layout else (dirs, batch, hidden)
    inputs = [x, rand(dirs, g * hidden, size) * 0.5, rand(dirs, g * hidden, hidden) * 0.5,
              rand(dirs, 2 * g * hidden) * 0.5,
              RNG.integers(0, seq + 1, batch).astype(np.int32) if lens else None,
              rand(*state) if initial else None]
    if op_type == "LSTM":
        inputs += [rand(*state) if initial else None,
                   rand(dirs, 3 * hidden) if peepholes else None]
    return inputs


@pytest.mark.parametrize("op_type", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("lens", [False, True])
@pytest.mark.parametrize("initial", [False, True])
def test_recurrent_matches_onnxruntime(op_type, direction, lens, initial):
    inputs = _recurrent_inputs(op_type, direction, lens=lens, initial=initial,
                               peepholes=initial)
    check(op_type, inputs, opset=14, n_out=3 if op_type == "LSTM" else 2, hidden_size=6,
          direction=direction)


@pytest.mark.parametrize(
    ("op_type", "attrs"),
    [
        ("LSTM", dict(clip=0.7)),
        ("LSTM", dict(input_forget=1)),
        ("LSTM", dict(activations=["HardSigmoid", "Relu", "Tanh"] * 2, activation_alpha=[0.3],
                      activation_beta=[0.4], direction="bidirectional")),
        ("LSTM", dict(activations=["Sigmoid", "LeakyRelu", "Softsign", "Sigmoid", "Elu",
                                   "Tanh"], activation_alpha=[0.2, 0.5],
                      direction="bidirectional")),
        ("GRU", dict(linear_before_reset=1)),
        ("GRU", dict(linear_before_reset=1, clip=0.5, direction="reverse")),
        ("GRU", dict(activations=["HardSigmoid", "Softsign"], activation_alpha=[0.25],
                     activation_beta=[0.45])),
        ("RNN", dict(activations=["Relu"], clip=1.5)),
        ("RNN", dict(activations=["Sigmoid", "Tanh"], direction="bidirectional")),
    ],
)
def test_recurrent_attributes_match_onnxruntime(op_type, attrs):
    direction = attrs.get("direction", "forward")
    inputs = _recurrent_inputs(op_type, direction, lens=True, initial=True,
                               peepholes=op_type == "LSTM")
    check(op_type, inputs, opset=14, n_out=3 if op_type == "LSTM" else 2, hidden_size=6,
          **attrs)


@pytest.mark.parametrize("op_type", ["LSTM", "GRU", "RNN"])
def test_recurrent_batch_first_layout_is_a_transpose(op_type):
    """layout=1 (batch first), checked against layout=0 through onnxruntime."""
    inputs = _recurrent_inputs(op_type, "bidirectional", lens=True, initial=True,
                               peepholes=True)
    n_out = 3 if op_type == "LSTM" else 2
    names = [f"x{i}" if a is not None else "" for i, a in enumerate(inputs)]
    plain = helper.make_node(op_type, names, [f"y{i}" for i in range(n_out)], hidden_size=6,
                             direction="bidirectional")
    expected = run_ort(plain, inputs, 14)
    batch_first = list(inputs)
    batch_first[0] = inputs[0].transpose(1, 0, 2)
    for i in (5, 6):
        if i < len(inputs):
            batch_first[i] = inputs[i].transpose(1, 0, 2)
    node = helper.make_node(op_type, names, [f"y{i}" for i in range(n_out)], hidden_size=6,
                            direction="bidirectional", layout=1)
    want = [expected[0].transpose(2, 0, 1, 3)] + [e.transpose(1, 0, 2) for e in expected[1:]]
    assert_matches(run_kernel(node, batch_first), want, infer(node, batch_first))


# -- Resize and Upsample -----------------------------------------------------------------
COORDS = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
          "half_pixel_symmetric"]


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("coords", COORDS)
@pytest.mark.parametrize("scales", [[1, 1, 2.0, 3.0], [1, 1, 0.6, 0.8], [1, 1, 1.7, 0.5]])
def test_resize_scales_match_onnxruntime(mode, coords, scales):
    if coords == "align_corners" and min(scales) < 1 and mode != "nearest":
        pytest.skip("covered by test_resize_align_corners_matches_onnxruntime")
    check("Resize", [rand(2, 3, 5, 6), None, np.array(scales, np.float32)], opset=19, mode=mode,
          coordinate_transformation_mode=coords)


def test_resize_align_corners_matches_onnxruntime():
    """Downsampling with align_corners uses the integer output length, like onnxruntime."""
    for mode in ("linear", "cubic"):
        check("Resize", [rand(1, 2, 5, 6), None, np.array([1, 1, 0.6, 0.8], np.float32)],
              opset=19, mode=mode, coordinate_transformation_mode="align_corners")


@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor",
                                          "ceil"])
@pytest.mark.parametrize("coords", ["half_pixel", "asymmetric", "align_corners"])
@pytest.mark.parametrize("sizes", [[2, 3, 11, 4], [2, 3, 3, 13]])
def test_resize_nearest_sizes_match_onnxruntime(nearest_mode, coords, sizes):
    check("Resize", [rand(2, 3, 5, 6), None, None, np.array(sizes, np.int64)], opset=19,
          mode="nearest", nearest_mode=nearest_mode, coordinate_transformation_mode=coords)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("policy", ["stretch", "not_larger", "not_smaller"])
def test_resize_axes_and_aspect_ratio_policy_match_onnxruntime(mode, policy):
    check("Resize", [rand(2, 3, 5, 6), None, None, np.array([8, 9], np.int64)], opset=19,
          mode=mode, axes=[3, 2], keep_aspect_ratio_policy=policy)
    check("Resize", [rand(2, 3, 5, 6), None, np.array([2.5, 0.5], np.float32)], opset=19,
          mode=mode, axes=[2, -1])


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_resize_tf_crop_and_resize_matches_onnxruntime(mode):
    roi = np.array([0, 0, 0.2, -0.1, 1, 1, 0.9, 1.2], np.float32)
    check("Resize", [rand(1, 2, 6, 7), roi, None, np.array([1, 2, 5, 9], np.int64)], opset=19,
          mode=mode, coordinate_transformation_mode="tf_crop_and_resize",
          extrapolation_value=-3.0)


@pytest.mark.parametrize("exclude_outside", [0, 1])
@pytest.mark.parametrize("scales", [[1, 1, 2.3, 1.6], [1, 1, 0.7, 0.45]])
def test_resize_cubic_options_match_onnxruntime(exclude_outside, scales):
    check("Resize", [rand(1, 2, 6, 7), None, np.array(scales, np.float32)], opset=19,
          mode="cubic", cubic_coeff_a=-0.5, exclude_outside=exclude_outside)


def test_resize_opset_10_and_11_forms_match_onnxruntime():
    x = rand(1, 2, 5, 6)
    for mode in ("nearest", "linear"):
        for scales in ([1, 1, 2.0, 1.5], [1, 1, 0.6, 0.5]):
            check("Resize", [x, np.array(scales, np.float32)], opset=10, mode=mode)
    empty = np.zeros(0, np.float32)
    check("Resize", [x, empty, empty, np.array([1, 2, 9, 4], np.int64)], opset=11,
          mode="linear", coordinate_transformation_mode="asymmetric")
    check("Resize", [x, empty, empty, np.array([1, 2, 9, 4], np.int64)], opset=11,
          mode="nearest", coordinate_transformation_mode="tf_half_pixel_for_nn")


def test_resize_integer_input_matches_onnxruntime():
    x = RNG.integers(0, 255, (1, 3, 5, 6)).astype(np.uint8)
    check("Resize", [x, None, np.array([1, 1, 2.0, 2.0], np.float32)], opset=19, mode="nearest")


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_upsample_matches_onnxruntime(mode):
    x = rand(1, 2, 4, 5)
    check("Upsample", [x, np.array([1, 1, 2.0, 3.0], np.float32)], opset=9, mode=mode)
    check("Upsample", [x], opset=7, mode=mode, scales=[1.0, 1.0, 3.0, 2.0])


# -- DepthToSpace, SpaceToDepth ------------------------------------------------------------
@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space_matches_onnxruntime(mode):
    check("DepthToSpace", [rand(2, 12, 3, 4)], opset=13, blocksize=2, mode=mode)
    check("DepthToSpace", [rand(1, 18, 2, 3)], opset=13, blocksize=3, mode=mode)


def test_space_to_depth_matches_onnxruntime_and_inverts_depth_to_space():
    x = rand(2, 3, 6, 8)
    y = check("SpaceToDepth", [x], opset=13, blocksize=2)[0]
    back = helper.make_node("DepthToSpace", ["x0"], ["y0"], blocksize=2, mode="DCR")
    np.testing.assert_array_equal(run_kernel(back, [y])[0], x)


# -- Pad ---------------------------------------------------------------------------------
PADS = [[1, 0, 2, 3, 0, 1, 1, 2], [0, 0, -1, 2, 0, 0, 1, -2], [0, 1, 0, 0, 0, 2, 0, 0]]


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("pads", PADS)
def test_pad_matches_onnxruntime(mode, pads):
    x = rand(2, 3, 4, 5)
    value = np.array(1.5, np.float32) if mode == "constant" else None
    check("Pad", [x, np.array(pads, np.int64), value], opset=13, mode=mode)
    check("Pad", [x], opset=2, mode=mode, pads=pads, value=-2.0)


def test_pad_wrap_axes_and_integers_match_onnxruntime():
    x = rand(2, 3, 4, 5)
    check("Pad", [x, np.array([2, 1, 3, 2], np.int64), None, np.array([1, -1], np.int64)],
          opset=19, mode="wrap")
    check("Pad", [x, np.array([1, 2, 0, 1], np.int64), np.array(7.0, np.float32),
                  np.array([0, 2], np.int64)], opset=18)
    xi = RNG.integers(-50, 50, (3, 4)).astype(np.int32)
    check("Pad", [xi, np.array([1, 2, 2, 1], np.int64), np.array(9, np.int32)], opset=13)
    check("Pad", [xi, np.array([1, 2, 2, 1], np.int64)], opset=13, mode="reflect")


# -- shape inference errors --------------------------------------------------------------
def infer_error(op_type: str, inputs: Sequence[np.ndarray | None], known: Sequence[int] = (),
                **attrs) -> str:
    """The message of the ValidationError inference raises; only ``known`` inputs are
    constant."""
    names = [f"x{i}" if a is not None else "" for i, a in enumerate(inputs)]
    proto = helper.make_node(op_type, names, ["y0"], name="n1", **attrs)
    node = to_node(proto)
    schema = OPS[op_type].schema
    descs = [None if a is None else TensorDesc(f"x{i}", DType.from_numpy(a.dtype), a.shape)
             for i, a in enumerate(inputs)]
    values = [a if i in known else None for i, a in enumerate(inputs)]
    with pytest.raises(ValidationError) as info:
        schema.infer(InferContext(node, descs, values, schema.resolve_attrs(node)))
    assert "node 'n1'" in str(info.value)
    return str(info.value)


def z(*shape: int, dtype=np.float32) -> np.ndarray:
    return np.zeros(shape, dtype)


@pytest.mark.parametrize(
    ("op_type", "inputs", "known", "attrs", "expected"),
    [
        ("Conv", [z(1, 6, 8, 8), z(4, 4, 3, 3)], (), {"group": 2},
         "has 6 channels but W [4, 4, 3, 3] with group=2 expects 4 x 2 = 8"),
        ("Conv", [z(1, 3, 8, 8), z(4, 3, 3)], (), {}, "input 1 (W) must be"),
        ("Conv", [z(1, 3, 8, 8), z(4, 3, 3, 3), z(5)], (), {}, "input 2 (B) must have shape [4]"),
        ("Conv", [z(1, 3, 2, 2), z(4, 3, 3, 3)], (), {}, "larger than the padded input"),
        ("Conv", [z(1, 3, 8, 8), z(4, 3, 3, 3)], (), {"strides": [1, 1, 1]},
         "strides must have 2 values"),
        ("Conv", [z(1, 3, 8, 8), z(4, 3, 3, 3)], (), {"kernel_shape": [2, 2]},
         "kernel_shape [2, 2] does not match"),
        ("ConvTranspose", [z(1, 3, 4, 4), z(4, 2, 3, 3)], (), {}, "has 3 channels but W"),
        ("Gemm", [z(3, 4), z(5, 6)], (), {}, "inner dimensions differ"),
        ("Gemm", [z(3, 4), z(4, 6), z(2, 6)], (), {}, "cannot be broadcast"),
        ("MatMul", [z(2, 3, 4), z(5, 6)], (), {}, "inner dimensions differ"),
        ("BatchNormalization", [z(2, 3, 4, 4), z(3), z(3), z(3), z(3)], (),
         {"training_mode": 1}, "inference only"),
        ("BatchNormalization", [z(2, 3, 4, 4), z(4), z(4), z(4), z(4)], (), {},
         "input 1 (scale) must have shape [3]"),
        ("LayerNormalization", [z(2, 3, 4), z(3)], (), {}, "does not broadcast"),
        ("MaxPool", [z(1, 3, 4, 4)], (), {"kernel_shape": [5, 5]}, "larger than the padded"),
        ("AveragePool", [z(1, 3)], (), {"kernel_shape": [2]}, "rank >= 3"),
        ("Softmax", [z(2, 3)], (), {"axis": 2}, "axis 2 is out of range"),
        ("LSTM", [z(5, 2, 4), z(1, 24, 3), z(1, 24, 6)], (), {"hidden_size": 6},
         "input 1 (W) must have shape [1, 24, 4]"),
        ("GRU", [z(5, 2, 4), z(2, 18, 4), z(2, 18, 6)], (), {"hidden_size": 6},
         "input 1 (W) must have shape [1, 18, 4]"),
        ("Resize", [z(1, 3, 4, 4), None, np.ones(4, np.float32)], (), {},
         "input 2 (scales) must be known at conversion time"),
        ("Resize", [z(1, 3, 4, 4), None, np.ones(4, np.float32)], (2,), {"antialias": 1},
         "antialias=1 is not supported"),
        ("Resize", [z(1, 3, 4, 4), None, np.ones(3, np.float32)], (2,), {},
         "one value per resized axis (4)"),
        ("Pad", [z(2, 3), np.array([1, 1], np.int64)], (), {}, "input 1 (pads) must be known"),
        ("Pad", [z(2, 3), np.array([1, 1], np.int64)], (1,), {}, "2 values per padded axis"),
        ("Pad", [z(2, 3), np.array([0, -2, 0, -2], np.int64)], (1,), {}, "crop more than"),
        ("DepthToSpace", [z(1, 6, 2, 2)], (), {"blocksize": 2}, "multiple of blocksize^2"),
        ("SpaceToDepth", [z(1, 2, 5, 4)], (), {"blocksize": 2}, "multiples of blocksize"),
    ],
)
def test_inference_errors_name_node_input_and_expectation(op_type, inputs, known, attrs,
                                                          expected):
    assert expected in infer_error(op_type, inputs, known, **attrs)


def test_kernels_refuse_what_they_do_not_implement():
    bn = helper.make_node("BatchNormalization", [f"x{i}" for i in range(5)], ["y0"],
                          training_mode=1)
    with pytest.raises(ValidationError, match="inference only"):
        run_kernel(bn, [z(2, 3, 2, 2)] + [z(3)] * 4)
    resize = helper.make_node("Resize", ["x0", "", "x2"], ["y0"], mode="linear", antialias=1)
    with pytest.raises(ValidationError, match="antialias"):
        run_kernel(resize, [z(1, 1, 4, 4), None, np.array([1, 1, 0.5, 0.5], np.float32)])


def test_schemas_accept_the_old_opset_attributes():
    """Attributes of old opsets that the frontend passes through verbatim."""
    x = rand(2, 3, 4, 4)
    params = [_positive(3), rand(3), rand(3), _positive(3)]
    bn = helper.make_node("BatchNormalization", [f"x{i}" for i in range(5)], ["y0"],
                          spatial=1, is_test=1, consumed_inputs=[0, 0, 0, 1, 1], momentum=0.8)
    new = helper.make_node("BatchNormalization", [f"x{i}" for i in range(5)], ["y0"])
    np.testing.assert_array_equal(run_kernel(bn, [x, *params])[0],
                                  run_kernel(new, [x, *params])[0])
    pad = helper.make_node("Pad", ["x0"], ["y0"], paddings=[0, 0, 1, 1, 0, 0, 1, 1], value=2.0)
    assert run_kernel(pad, [x])[0].shape == (2, 3, 6, 6)
    up = helper.make_node("Upsample", ["x0"], ["y0"], height_scale=2.0, width_scale=3.0)
    assert infer(up, [x])[0][0] == (2, 3, 8, 12)
    assert run_kernel(up, [x])[0].shape == (2, 3, 8, 12)
