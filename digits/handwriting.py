"""Photo-like pictures of digits in one person's handwriting, for trying fine-tuning without a
camera: `digits-handwriting OUT_DIR [--per-digit 50] [--hand 0] [--seed 0]`; with
`--numbers N`, N photos of whole numbers (1-8 digits) in the hand instead.

A "hand" is a fixed style (digits.synth.hands: a Hershey face, slant, width, pen, ink); every photo of
it varies the way one person's writing and photos do: wobble, size, tilt, position, paper, light,
blur and JPEG noise. Hands 0-19; hands 12-19 are never trained or tuned on (they measure other
writers) and measuring photos use --seed 1000 and above. Writes OUT_DIR/0 .. OUT_DIR/9, the
layout data=folder reads; numbers go to OUT_DIR/handH_seedS_K_NUMBER.jpg (digits.synth.hand_numbers).
"""

from __future__ import annotations

import sys
from pathlib import Path

from digits import cli
from digits.synth import hand_folders
from digits.synth import hand_numbers
from digits.synth import hands

PER_DIGIT = 50

EXAMPLES = """\
  digits-handwriting my_hand/
      500 photos (50 of each digit) in hand 0: my_hand/0 .. my_hand/9
  digits-handwriting my_hand/ --per-digit 20 --hand 3 --seed 1
  digits-train experiment=finetune data.path=my_hand/
      then fine-tune a model on them
  digits-handwriting their_numbers/ --numbers 100 --hand 12 --seed 1000
      100 photos of numbers (1-8 digits) in unseen hand 12, each number in its file name"""


def build_parser() -> cli.Parser:
    parser = cli.Parser("digits-handwriting", __doc__.strip(), EXAMPLES)
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR",
                        help="folder to write sub-folders 0 .. 9 (or the numbers) into (other "
                        "files are kept)")
    parser.add_argument("--per-digit", type=int, metavar="N",
                        help=f"photos of each digit (default {PER_DIGIT})")
    parser.add_argument("--numbers", type=int, metavar="N",
                        help="write N photos of whole numbers (1-8 digits) instead, the number "
                        "in each file name: handH_seedS_K_NUMBER.jpg")
    parser.add_argument("--hand", type=int, default=0, metavar="H",
                        help=f"which handwriting style, 0 .. {hands.HANDS - 1} (default 0)")
    parser.add_argument("--seed", type=int, default=0,
                        help="draws the variations between photos (default 0)")
    cli.add_overwrite(parser)
    return parser


def command(parser, args) -> int:
    if args.numbers is not None and args.per_digit is not None:
        parser.error("give --per-digit or --numbers, not both")
    if args.per_digit is not None and args.per_digit < 1:
        parser.error(f"--per-digit must be >= 1, not {args.per_digit}")
    if args.numbers is not None and args.numbers < 1:
        parser.error(f"--numbers must be >= 1, not {args.numbers}")
    if not 0 <= args.hand < hands.HANDS:
        parser.error(f"--hand must be 0 .. {hands.HANDS - 1}, not {args.hand}")
    if args.numbers is not None:
        return numbers_command(args)
    if not args.overwrite and hand_folders.holds_photos(args.out_dir, args.hand, args.seed):
        raise cli.CommandError(f"{args.out_dir} already holds photos of hand {args.hand} with "
                               f"seed {args.seed}; add --overwrite to replace them")
    count = hand_folders.write_folder(args.out_dir, args.per_digit or PER_DIGIT, args.hand,
                                      args.seed)
    print(f"wrote {count} photos in hand {args.hand} to {args.out_dir}")
    return cli.OK


def numbers_command(args) -> int:
    if not args.overwrite and hand_numbers.holds_photos(args.out_dir, args.hand, args.seed):
        raise cli.CommandError(f"{args.out_dir} already holds numbers in hand {args.hand} with "
                               f"seed {args.seed}; add --overwrite to replace them")
    paths = hand_numbers.write_numbers(args.out_dir, args.numbers, args.hand, args.seed)
    print(f"wrote {len(paths)} photos of numbers in hand {args.hand} to {args.out_dir}")
    return cli.OK


def main(argv: list[str] | None = None) -> int:
    parser_ = build_parser()
    return cli.run("digits-handwriting", lambda: command(parser_, parser_.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
