"""The --model option of the digits-* commands that read a model: the path it names (a run folder
or a .keras file, else the model digits ships), and the model loaded from it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from digits.models import model_files
from digits.utils.command_errors import CommandError


def add_model(parser: argparse.ArgumentParser, positional_deprecated: bool = False) -> None:
    """--model PATH; with `positional_deprecated`, a bare RUN_DIR is still taken (not shown)."""
    parser.add_argument("--model", metavar="PATH",
                        help="a run folder (its model.keras) or a .keras file")
    if positional_deprecated:
        parser.add_argument("deprecated_model", nargs="?", metavar="RUN_DIR",
                            help=argparse.SUPPRESS)


def model_path(prog: str, args: argparse.Namespace, kind: str = "digit") -> Path:
    """--model, else the deprecated positional RUN_DIR (with a warning), else the shipped model
    of `kind` (model_files.default_model_path: "digit" or "number"; for "number" the shipped digit
    model when no number model is shipped)."""
    deprecated = getattr(args, "deprecated_model", None)
    if deprecated is not None:
        if args.model is not None:
            raise CommandError("give the model once, as --model PATH")
        print(f"{prog}: the positional RUN_DIR is deprecated; use --model RUN_DIR",
              file=sys.stderr)
        return Path(deprecated)
    if args.model is not None:
        return Path(args.model)
    default = model_files.default_model_path(kind)
    if default is None and kind == "number":
        # No sequence reader shipped: the digit reader reads the number piece by piece.
        default = model_files.default_model_path("digit")
    if default is None:
        raise CommandError("no model given: add --model PATH (a run folder or a .keras file)")
    return default


def load_model(prog: str, args: argparse.Namespace, kind: str = "digit"):
    """The model of `args` (see model_path); an unloadable one is a CommandError (exit 2)."""
    try:
        return model_files.load(model_path(prog, args, kind))
    except model_files.ModelLoadError as error:
        raise CommandError(str(error)) from None
