"""``mace convert SRC -o OUTDIR``: source model -> ``OUTDIR/<stem>.pb`` + ``OUTDIR/<stem>.data``."""

from __future__ import annotations

import sys
from pathlib import Path

from mace_core.cli.common import Progress, parse_input_shapes, parse_input_values
from mace_core.errors import MaceError
from mace_core.frozen_inputs import decode_metadata


def add_parser(sub) -> None:
    p = sub.add_parser(
        "convert",
        help="convert an ONNX model into a deployable .pb + .data",
        description="Convert a source model (ONNX now; TensorFlow/TFLite with their frontends) "
        "once, offline: import, infer static shapes, optimise (constant folding, BatchNorm "
        "folding, activation fusion...), and write OUTDIR/<stem>.pb + OUTDIR/<stem>.data.",
    )
    p.add_argument("src", type=Path, nargs="?", help="source model file, e.g. model.onnx")
    p.add_argument("-o", "--output-dir", type=Path, required=True, help="where to write files")
    p.add_argument("--config", type=Path, metavar="DEPLOY.yml",
                   help="build every model of a deployment file (source pinned by sha256, "
                   "shapes, runtime, data type; see docs/deploy.md) instead of SRC")
    p.add_argument("--input-shape", action="append", metavar="NAME=DIMS",
                   help="static shape for an input with dynamic dims, e.g. x=1,3,224,224 "
                   "(repeat per input)")
    p.add_argument("--input-value", action="append", metavar="NAME=VALUE",
                   help="freeze an input to a value, e.g. sr=16000 (a number or a comma list; "
                   "cast to the input's dtype): it becomes a constant, the converted model "
                   "no longer takes it, and what depends on it (If conditions) folds away")
    p.add_argument("--name", help="stem of the output files (default: the source file's stem)")
    p.add_argument("--format", help="source format when the suffix is ambiguous (e.g. onnx)")
    p.add_argument("--weights", choices=["fp32", "fp16"], default="fp32",
                   help="storage of float weights in .data: fp16 halves the file (default fp32)")
    p.add_argument("--no-optimize", action="store_true", help="skip the graph passes")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def convert_file(src: Path, out_dir: Path, *, input_shapes=None, name=None, format=None,
                 weights="fp32", optimize_graph=True, progress=None, input_values=None):
    """Convert ``src`` and write the model files; returns (paths, graph)."""
    from mace_core.model_format import save_model
    from mace_core.pipeline import import_model, optimize
    from mace_core.registry import default_registry
    from mace_core.specs import ConvertOptions

    progress = progress or (lambda message: None)
    registry = default_registry()
    if not src.exists():
        raise MaceError(f"source model {src} does not exist")
    options = ConvertOptions(input_shapes=dict(input_shapes or {}), model_name=name or src.stem,
                             input_values=dict(input_values or {}))
    progress(f"importing {src.name}")
    graph = import_model(src, options, registry, format)
    if optimize_graph:
        progress(f"optimizing {len(graph.nodes)} nodes")
        optimize(graph, registry)
    progress(f"writing {len(graph.nodes)} nodes, {len(graph.constants)} weights to {out_dir}")
    paths = save_model(graph, out_dir, name or src.stem, weights=weights)
    return paths, graph


def run_config(args) -> int:
    from mace_core.deploy import build, load_deploy

    built = build(load_deploy(args.config), args.output_dir)
    for result in built.values():
        print(f"{result.name}: wrote {result.pb} and {result.data}")
    return 0


def run(args) -> int:
    if args.config is not None:
        if args.src is not None:
            raise MaceError("give either SRC or --config, not both")
        return run_config(args)
    if args.src is None:
        raise MaceError("nothing to convert: give SRC (e.g. model.onnx) or --config DEPLOY.yml")
    progress = Progress(3, args.quiet)
    paths, graph = convert_file(
        args.src, args.output_dir, input_shapes=parse_input_shapes(args.input_shape),
        name=args.name, format=args.format, weights=args.weights,
        optimize_graph=not args.no_optimize, progress=progress,
        input_values=parse_input_values(args.input_value),
    )
    ops = ", ".join(f"{k}:{v}" for k, v in graph.op_types().items())
    print(f"wrote {paths.pb} and {paths.data}")
    print(f"  {len(graph.nodes)} nodes ({ops})")
    for name in graph.inputs:
        print(f"  input  {name}: {graph.desc(name).describe()}")
    for name in graph.outputs:
        print(f"  output {name}: {graph.desc(name).describe()}")
    for name, value in decode_metadata(graph.metadata).items():
        print(f"  note: input {name} is frozen to {value.tolist()}; the converted model no "
              "longer takes it")
    sys.stdout.flush()
    return 0
