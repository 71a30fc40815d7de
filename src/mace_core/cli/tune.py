"""``mace tune MODEL.pb``: offline tuning of GPU work-group sizes (mace-gpu-opencl)."""

from __future__ import annotations

from pathlib import Path

from mace_core.errors import MaceError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "tune", help="tune GPU kernels of a model for this device (writes a tuning file)",
        description="Run MODEL.pb once on the GPU, timing candidate local work sizes for every "
        "kernel launch with profiling events, and write the fastest per kernel and shape to a "
        "JSON tuning file keyed by device name + driver version. Sessions load it with "
        "gpu_tuning_file=PATH (CLI: --gpu-tuning-file); untuned shapes use a heuristic.",
    )
    p.add_argument("model", type=Path, metavar="MODEL.pb")
    p.add_argument("-o", "--output", type=Path, help="tuning file (default MODEL.tuning.json)")
    p.add_argument("--storage", choices=["auto", "image", "buffer"], default="auto",
                   help="GPU storage to tune for (default auto: what sessions pick by default)")
    p.add_argument("--fp16", action="store_true", help="tune for fp16 storage")
    p.add_argument("--candidates", type=int, default=12,
                   help="local sizes tried per kernel (default 12)")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        from mace_gpu_opencl.tuning import tune_model
    except ImportError:
        raise MaceError("`mace tune` needs the GPU plugin: pip install mace-gpu-opencl") from None
    out = args.output or args.model.with_suffix(".tuning.json")
    tuned = tune_model(args.model, out, storage=args.storage, fp16=args.fp16,
                       candidates_per_kernel=args.candidates)
    print(f"tuned {len(tuned)} kernel launches; wrote {out}")
    return 0
