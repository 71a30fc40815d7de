"""``mace run MODEL.pb``: run a converted model on inputs from an .npz (or random inputs)."""

from __future__ import annotations

from pathlib import Path

from mace_core.cli.common import (
    add_device_options,
    device_options,
    load_npz,
    save_npz,
    split_devices,
    summarize,
)

DEVICE_HELP = ("device preference order, comma separated (default: the deployment file's "
               "runtime, else cpu,reference)")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run", help="run a converted model",
        description="Run MODEL.pb once. Inputs come from --inputs (an .npz whose keys are the "
        "model's input names) or are random (uniform in [-1, 1)). Devices are tried in the "
        "order given, per op, with fallback to the next.",
    )
    p.add_argument("model", type=Path, help="MODEL.pb (MODEL.data must be beside it)")
    p.add_argument("--inputs", type=Path, help="input .npz (keys = input names)")
    p.add_argument("--outputs", type=Path, help="write outputs to this .npz")
    p.add_argument("--device", help=DEVICE_HELP)
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--profile", action="store_true", help="print per-op device and time")
    add_device_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import mace_core

    model = mace_core.load(args.model)
    session = model.session(split_devices(args.device), profile=args.profile,
                            **device_options(args))
    for device, why in session.placement.unavailable.items():
        print(f"note: device {device!r} skipped: {why}")
    feeds = load_npz(args.inputs) if args.inputs else session.random_inputs(args.seed)
    outputs = session.run(feeds)
    counts = ", ".join(f"{d}: {n} ops" for d, n in session.placement.counts().items())
    print(f"ran {model.name} on {counts}")
    for name, value in outputs.items():
        print(summarize(name, value))
    if args.profile:
        from mace_core.cli.benchmark import print_op_table

        print_op_table([session.last_profile])
    if args.outputs:
        save_npz(args.outputs, outputs)
        print(f"wrote {args.outputs}")
    return 0
