"""``mace validate SRC MODEL.pb``: run the source framework and our model, compare outputs."""

from __future__ import annotations

from pathlib import Path

from mace_core.cli.common import add_device_options, device_options, load_npz, split_devices
from mace_core.cli.run import DEVICE_HELP
from mace_core.compare import COSINE_MIN, REL_MAX, compare, compare_quantized


def add_parser(sub) -> None:
    p = sub.add_parser(
        "validate", help="compare a converted model with its source framework",
        description="Run SRC in its own framework (onnxruntime for ONNX) and MODEL.pb with "
        "mace-core on the same inputs; print per output the max abs error, the error relative "
        "to max|reference| and the cosine similarity. Exit 1 on mismatch.",
    )
    p.add_argument("src", type=Path, nargs="?", help="the source model (e.g. model.onnx)")
    p.add_argument("model", type=Path, nargs="?", help="the converted MODEL.pb")
    p.add_argument("--config", type=Path, metavar="DEPLOY.yml",
                   help="build and validate every model of a deployment file, with its "
                   "inputs' ranges and thresholds")
    p.add_argument("-o", "--output-dir", type=Path, default=Path("out/deploy"),
                   help="with --config: where the built models go (default out/deploy)")
    p.add_argument("--inputs", type=Path, help="input .npz (default: random inputs)")
    p.add_argument("--device", help=DEVICE_HELP)
    add_device_options(p)
    p.add_argument("--format", help="source format (default: from the file)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--cosine-min", type=float, default=COSINE_MIN,
                   help=f"minimum cosine similarity (default {COSINE_MIN})")
    p.add_argument("--rel-max", type=float, default=REL_MAX,
                   help=f"maximum of max|err| / max|ref| (default {REL_MAX})")
    p.set_defaults(func=run)


def validate_files(src: Path, model_path: Path, *, devices, inputs=None, seed=0, fmt=None,
                   cosine_min=COSINE_MIN, rel_max=REL_MAX, frozen=None, options=None):
    """Returns the list of Comparison, one per model output.

    Inputs frozen at conversion (recorded in the model, or given in ``frozen``) are fed to
    the source model only; the converted model takes the others.
    """
    import numpy as np

    import mace_core
    from mace_core.errors import MaceError
    from mace_core.frozen_inputs import decode_metadata
    from mace_core.registry import default_registry

    model = mace_core.load(model_path)
    session = model.session(devices, **(options or {}))
    frozen = {**decode_metadata(model.graph.metadata), **(frozen or {})}
    feeds = inputs if inputs is not None else session.random_inputs(seed)
    for name, value in frozen.items():
        if name in feeds and not np.array_equal(np.asarray(feeds[name]), value):
            raise MaceError(f"input {name!r} was frozen to {value.tolist()} at conversion, but "
                            f"the inputs give it {np.asarray(feeds[name]).tolist()}")
    spec = default_registry().converter_for(src, fmt)
    if spec.run_source is None:
        raise MaceError(f"the {spec.format} frontend cannot run source models for validation")
    reference = spec.run_source(src, {**feeds, **frozen})
    ours = session.run({k: v for k, v in feeds.items() if k not in frozen})
    results = []
    for name in model.graph.outputs:
        if name not in reference:
            raise MaceError(f"output {name!r} is missing from the source framework's outputs "
                            f"({', '.join(reference)})")
        quant = model.graph.desc(name).quant
        if quant is not None and np.asarray(reference[name]).dtype.kind in "iu":
            results.append(compare_quantized(name, ours[name], reference[name], quant))
        else:
            results.append(compare(name, ours[name], reference[name], cosine_min=cosine_min,
                                   rel_max=rel_max))
    return results, session


def print_results(results, session=None, cosine_min=COSINE_MIN, rel_max=REL_MAX) -> int:
    """Print the comparison table; returns the exit status (1 on mismatch)."""
    where = ""
    if session is not None:
        counts = ", ".join(f"{d}: {n} ops" for d, n in session.placement.counts().items())
        where = f" on {counts}"
    print(f"validated{where} (thresholds: cosine >= {cosine_min}, "
          f"max|err|/max|ref| <= {rel_max})")
    print(f"  {'output':<32} {'max abs err':>12} {'rel err':>10} {'cosine':>12}  result")
    for r in results:
        verdict = ("OK" if r.ok else "MISMATCH") + (f" ({r.note})" if r.note else "")
        print(f"  {r.name:<32} {r.max_abs:>12.3e} {r.rel:>10.2e} {r.cosine:>12.8f}  {verdict}")
    bad = [r.name for r in results if not r.ok]
    if bad:
        print(f"mismatch in {len(bad)} of {len(results)} outputs")
        return 1
    print(f"all {len(results)} outputs match")
    return 0


def run_config(args) -> int:
    from mace_core.deploy import build, load_deploy, validate

    config = load_deploy(args.config)
    report = validate(config, build(config, args.output_dir))
    status = 0
    for name, results in report.items():
        thresholds = config.models[name].validation
        print(f"{name}:")
        status |= print_results(results, None, thresholds.cosine_min, thresholds.rel_max)
    return status


def run(args) -> int:
    if args.config is not None:
        return run_config(args)
    if args.src is None or args.model is None:
        from mace_core.errors import MaceError

        raise MaceError("give SRC and MODEL.pb (e.g. mace validate model.onnx out/model.pb), "
                        "or --config DEPLOY.yml")
    inputs = load_npz(args.inputs) if args.inputs else None
    results, session = validate_files(
        args.src, args.model, devices=split_devices(args.device), inputs=inputs, seed=args.seed,
        fmt=args.format, cosine_min=args.cosine_min, rel_max=args.rel_max,
        options=device_options(args),
    )
    return print_results(results, session, args.cosine_min, args.rel_max)
