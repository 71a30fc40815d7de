"""``mace info MODEL.pb [--memory]``: what a converted model holds, and its memory plan."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "info", help="describe converted models (and their memory plan)",
        description="Print format version, producer, inputs/outputs, op counts and weight size "
        "of each MODEL.pb. With --memory: the memory plan per model: the lower bound (largest "
        "set of simultaneously live tensors), our planned arena, the no-reuse total and "
        "MACE-style whole-buffer coloring.",
    )
    p.add_argument("models", type=Path, nargs="+", metavar="MODEL.pb")
    p.add_argument("--memory", action="store_true", help="print the memory-plan table")
    p.add_argument("--device", choices=("any", "gpu"), default="any",
                   help="with --memory: 'gpu' prints the GPU plugin's memory per storage (image2d "
                   "blocks reused by 2-D extent; buffers offset-planned in one arena)")
    p.set_defaults(func=run)


def run(args) -> int:
    from mace_core.errors import MaceError
    from mace_core.model_format import load_graph
    from mace_core.model_format.inspect import describe

    graphs = []
    for path in args.models:
        info = describe(path)
        print(f"{path}:")
        for key, value in info.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}:{v}" for k, v in value.items())
            print(f"  {key}: {value}")
        graphs.append(load_graph(path))
    if args.memory and args.device == "gpu":
        try:
            from mace_gpu_opencl.memory import format_gpu_memory_table, gpu_memory_report
        except ImportError as exc:
            raise MaceError("--device gpu needs the GPU plugin: pip install mace-gpu-opencl"
                            ) from exc
        print()
        configs = [("image", "image", True), ("buffer", "buffer", True),
                   ("buffer, whole blocks", "buffer", False)]  # the last: NVIDIA's default
        print(format_gpu_memory_table([
            (f"{p} [{label}]", gpu_memory_report(g, storage=storage, arena=arena))
            for p, g in zip(args.models, graphs, strict=True)
            for label, storage, arena in configs
        ]))
    elif args.memory:
        from mace_core.memory.report import format_memory_table, memory_table

        print()
        print(format_memory_table([row for g in graphs for row in memory_table(g)]))
    return 0
