"""Compare the runs of a sweep: `digits-report SWEEP_DIR [--csv FILE] [--plot FILE]`.

One table of every run of a multirun folder: the overrides that differ between runs, validation
and test accuracy, epochs and training time. Runs are ranked by validation accuracy (what a choice
may be made on); test accuracy is shown as the outcome, never chosen on. Runs without
metrics.json are listed as failed or unfinished. Printed as Markdown and saved as
SWEEP_DIR/report.md (rewritten each time).
"""

from __future__ import annotations

import sys
from pathlib import Path

from digits import cli
from digits.evaluation.sweep_report import collect, markdown, plot, ranked, swept_keys, write_csv
from digits.runs import trial_command

EXAMPLES = """\
  digits-report multirun/2026-01-01/12-00-00
  digits-report multirun/2026-01-01/12-00-00 --csv sweep.csv --plot sweep.png
  digits-report multirun/2026-01-01/12-00-00 --csv sweep.csv --overwrite"""

PROG = "digits-report"


def build_parser() -> cli.Parser:
    # The sweep folder stays positional: it is what the command reads, not a model.
    parser = cli.Parser(PROG, __doc__.strip(), EXAMPLES)
    parser.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR",
                        help="a multirun folder (multirun/DATE/TIME)")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write the table as CSV")
    parser.add_argument("--plot", type=Path, metavar="FILE",
                        help="plot validation accuracy against each swept parameter")
    cli.add_overwrite(parser)
    return parser


def command(args) -> int:
    for option in ("csv", "plot"):
        if getattr(args, option) is not None:
            cli.refuse_existing(getattr(args, option), args.overwrite, f"--{option}")
    if not args.sweep_dir.is_dir():
        raise cli.CommandError(f"{args.sweep_dir} is not a folder: give a multirun folder")
    rows = ranked(collect(args.sweep_dir))
    if not rows:
        raise cli.CommandError(f"no runs in {args.sweep_dir} (no */.hydra/overrides.yaml): "
                               "give a multirun folder (multirun/DATE/TIME)")
    keys = swept_keys(rows)
    table = markdown(rows, keys)
    (args.sweep_dir / "report.md").write_text(table + "\n")
    print(table)
    if args.csv:
        write_csv(rows, keys, args.csv)
    if args.plot:
        plot(rows, keys, args.plot)
    failed = [row["run"] for row in rows if row["status"] != "done"]
    if failed:
        print(f"\nfailed or unfinished: {', '.join(failed)}")
    best = rows[0]
    if best["val_accuracy"] is not None:
        test = "" if best["test_accuracy"] is None else \
            f", test accuracy {best['test_accuracy']:.4f}"
        print(f"\nbest run by validation accuracy: {best['folder']} "
              f"(validation accuracy {best['val_accuracy']:.4f}{test})")
        print(f"its command: {trial_command.command(Path(best['folder']))}")
    return cli.OK


def main(argv: list[str] | None = None) -> int:
    return cli.run(PROG, lambda: command(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
