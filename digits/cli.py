"""What every argparse digits-* command shares: exit codes, one-line errors, the --overwrite and
--verbose options, refusing to replace a user's path, and Ctrl-C. The --model option is
digits.models.model_option's (it loads Keras, which not every command needs).

digits-train is a Hydra app and follows the same exit codes on its own.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from digits.utils import quiet
from digits.utils.command_errors import USAGE, CommandError

OK = 0  # done
FAILED = 1  # some inputs or outputs failed (including disk errors)
DIVERGED = 3  # training diverged (digits-train)
INTERRUPTED = 130  # Ctrl-C

EXIT_CODES = ("exit codes: 0 done; 1 some inputs or outputs failed (including disk errors);\n"
              "  2 usage error, unloadable model or refused overwrite; 130 interrupted")


def one_line(message: object) -> str:
    return " ".join(str(message).split())


def print_error(prog: str, message: object) -> None:
    print(f"{prog}: {one_line(message)}", file=sys.stderr)


class Parser(argparse.ArgumentParser):
    """argparse with an examples epilog and usage errors as one line (`prog: message`)."""

    def __init__(self, prog: str, description: str, examples: str):
        super().__init__(prog=prog, description=description,
                         epilog="examples:\n" + examples.strip("\n") + "\n\n" + EXIT_CODES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
        self.add_argument("--verbose", action="store_true",
                          help="show TensorFlow's own log (start-up lines, warnings) too")

    def error(self, message: str):
        print_error(self.prog, f"{message} (see {self.prog} --help)")
        sys.exit(USAGE)

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        if parsed.verbose:
            os.environ[quiet.VERBOSE_VARIABLE] = "1"
        return parsed


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help="replace output paths that already exist (never done without it)")


def refuse_existing(path: Path, overwrite: bool, option: str) -> None:
    """A path the user named that exists (a file, or a folder with anything in it) is never
    replaced without --overwrite: CommandError (exit 2)."""
    if overwrite or not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return
    raise CommandError(f"{option} {path} already exists; add --overwrite to replace it")


def is_run_folder(folder: Path) -> bool:
    """A folder digits made for a run (or an ensemble): files in it are digits' to replace."""
    return (folder / ".hydra").is_dir() or (folder / "metrics.json").is_file()


def refuse_outside_run_folder(folder: Path, names: list[str], overwrite: bool) -> None:
    """Beside a model that is not in a run folder, files a command would write by default may be
    the user's own: any that exists is refused unless `overwrite` (CommandError, exit 2)."""
    if overwrite or is_run_folder(folder):
        return
    existing = [name for name in names if (folder / name).exists()]
    if existing:
        raise CommandError(f"{folder} is not a run folder and already holds {existing[0]}; "
                           "add --overwrite to replace it, or give the model a folder of its own")


def run(prog: str, command: Callable[[], int]) -> int:
    """Run a command's body: CommandError and disk errors as one line, Ctrl-C as exit 130."""
    try:
        return command()
    except CommandError as error:
        print_error(prog, error)
        return error.status
    except OSError as error:  # unwritable folder, full disk, file vanished
        print_error(prog, error)
        return FAILED
    except KeyboardInterrupt:
        print_error(prog, "interrupted")
        return INTERRUPTED
