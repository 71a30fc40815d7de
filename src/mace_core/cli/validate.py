"""``mace validate SRC MODEL.pb``: run the source framework and our model, compare outputs."""

from __future__ import annotations

from pathlib import Path

from mace_core.cli.common import load_npz, split_devices
from mace_core.cli.run import DEFAULT_DEVICES
from mace_core.compare import COSINE_MIN, REL_MAX, compare


def add_parser(sub) -> None:
    p = sub.add_parser(
        "validate", help="compare a converted model with its source framework",
        description="Run SRC in its own framework (onnxruntime for ONNX) and MODEL.pb with "
        "mace-core on the same inputs; print per output the max abs error, the error relative "
        "to max|reference| and the cosine similarity. Exit 1 on mismatch.",
    )
    p.add_argument("src", type=Path, help="the source model (e.g. model.onnx)")
    p.add_argument("model", type=Path, help="the converted MODEL.pb")
    p.add_argument("--inputs", type=Path, help="input .npz (default: random inputs)")
    p.add_argument("--device", default=DEFAULT_DEVICES, help="device preference order")
    p.add_argument("--format", help="source format (default: from the file)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--cosine-min", type=float, default=COSINE_MIN,
                   help=f"minimum cosine similarity (default {COSINE_MIN})")
    p.add_argument("--rel-max", type=float, default=REL_MAX,
                   help=f"maximum of max|err| / max|ref| (default {REL_MAX})")
    p.set_defaults(func=run)


def validate_files(src: Path, model_path: Path, *, devices, inputs=None, seed=0, fmt=None,
                   cosine_min=COSINE_MIN, rel_max=REL_MAX):
    """Returns the list of Comparison, one per model output."""
    import mace_core
    from mace_core.errors import MaceError
    from mace_core.registry import default_registry

    model = mace_core.load(model_path)
    session = model.session(devices)
    feeds = inputs if inputs is not None else session.random_inputs(seed)
    spec = default_registry().converter_for(src, fmt)
    if spec.run_source is None:
        raise MaceError(f"the {spec.format} frontend cannot run source models for validation")
    reference = spec.run_source(src, feeds)
    ours = session.run(feeds)
    results = []
    for name in model.graph.outputs:
        if name not in reference:
            raise MaceError(f"output {name!r} is missing from the source framework's outputs "
                            f"({', '.join(reference)})")
        results.append(compare(name, ours[name], reference[name], cosine_min=cosine_min,
                               rel_max=rel_max))
    return results, session


def print_results(results, session, cosine_min=COSINE_MIN, rel_max=REL_MAX) -> int:
    """Print the comparison table; returns the exit status (1 on mismatch)."""
    counts = ", ".join(f"{d}: {n} ops" for d, n in session.placement.counts().items())
    print(f"validated on {counts} (thresholds: cosine >= {cosine_min}, "
          f"max|err|/max|ref| <= {rel_max})")
    print(f"  {'output':<32} {'max abs err':>12} {'rel err':>10} {'cosine':>12}  result")
    for r in results:
        verdict = "OK" if r.ok else f"MISMATCH {r.note}".rstrip()
        print(f"  {r.name:<32} {r.max_abs:>12.3e} {r.rel:>10.2e} {r.cosine:>12.8f}  {verdict}")
    bad = [r.name for r in results if not r.ok]
    if bad:
        print(f"mismatch in {len(bad)} of {len(results)} outputs")
        return 1
    print(f"all {len(results)} outputs match")
    return 0


def run(args) -> int:
    inputs = load_npz(args.inputs) if args.inputs else None
    results, session = validate_files(
        args.src, args.model, devices=split_devices(args.device), inputs=inputs, seed=args.seed,
        fmt=args.format, cosine_min=args.cosine_min, rel_max=args.rel_max,
    )
    return print_results(results, session, args.cosine_min, args.rel_max)
