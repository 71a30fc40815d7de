"""Entry point of the ``mace`` command."""

from __future__ import annotations

import argparse
import sys

from mace_core.cli import benchmark, convert, info, plugins_cmd, run, tune, validate, zoo
from mace_core.errors import MaceError


def build_parser() -> argparse.ArgumentParser:
    from mace_core import __version__

    parser = argparse.ArgumentParser(
        prog="mace",
        description="Convert a model once, run it on whatever the device has.\n\n"
        "  mace convert model.onnx -o out/      # -> out/model.pb + out/model.data\n"
        "  mace validate model.onnx out/model.pb  # compare with onnxruntime\n"
        "  mace run out/model.pb --device cpu,reference --profile\n"
        "  mace benchmark out/model.pb",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mace-core {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    convert.add_parser(sub)
    run.add_parser(sub)
    validate.add_parser(sub)
    benchmark.add_parser(sub)
    info.add_parser(sub)
    plugins_cmd.add_parsers(sub)
    zoo.add_parser(sub)
    tune.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    except MaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
