"""Where a whole-number reader fails, on the fixed validation numbers (never the test set).

    python benchmarks/number_errors.py --model SEQ_MODEL [--count 1000] [--views]
        [--stretch 1.15 1.3] [--audit N --audit-dir DIR] [--hollow-hands N]

Reads the first --count fixed validation numbers (fixed_sets.fixed_set of the MNIST validation
split, seed 42 as every run draws it), each line once, or with --views in the views
digits-predict --number reads (number_reader.read), and prints exact accuracy:
- photographed against clean numbers, overall and by spacing, and by spacing and length;
- photographed numbers by the photo corruption drawn for them (none, or its name);
- outlined numbers (strokes drawn around, hands.hollow_out) against the rest;
- what the misreadings are: the right length (a digit read as another, the most common pairs),
  digits lost (one of two equal neighbours, or another), digits gained;
- the same lines stretched in width (--stretch): more time steps per digit. If lost digits were
  a matter of time steps, stretched lines would lose fewer.
--audit N writes N misread lines and N/4 read right, shuffled and numbered, as PNG sheets of 10
into --audit-dir, with their true and read numbers in key.json: read the sheets blind, then
compare with the key (how many misread lines can be read at all).
--hollow-hands N reads N numbers in each training hand (hands 0-11) redrawn in outline
(hands.Hand.hollow; only hand 10 writes so in training): outlined writing to develop on, the
unseen hands (hand 17 writes in outline) kept for measuring.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from digits.synth import corruptions
from digits.data import datasets
from digits.synth import hand_numbers
from digits.synth import hands
from digits.models import model_files
from digits.reading import number_reader
from digits.data.numbers import fixed_sets
from digits.data.numbers import composed
from digits.models import crnn
from digits.vision import mnist_style
from digits.vision import number_lines
from digits.config.schemas import NumbersDataConfig
from digits.synth import number_layout

SEED = 42  # the data seed of every shipped run: its validation digits are these
HOLLOW_SEED = 7  # --hollow-hands: not the shipped runs' seed, so never a training draw


def shared_ink(number: composed.Number) -> float:
    """The largest share of one digit's ink that another digit's ink covers too (strokes written
    over each other, where neither digit can be seen whole)."""
    inked_twice = np.sum(number.masks, axis=0) > 1
    return max([0.0] + [(mask & inked_twice).sum() / max(1, mask.sum()) for mask in number.masks])


def validation_numbers(count: int):
    """(lines, labels, metadata, photographed, outlined, corrupted, shared) of the first `count`
    fixed validation numbers, drawn one by one to see which were outlined, which photo
    corruption (a name, or "") each was given and how much ink its digits share (shared_ink)."""
    x, y = composed.split_arrays(datasets.load(NumbersDataConfig(), SEED), "validation")
    lengths = fixed_sets.fixed_lengths(count, fixed_sets.VALIDATION_SEED)
    hollowed, corruption = [], []
    real_hollow, real_corrupt = hands.hollow_out, corruptions.corrupt
    hands.hollow_out = lambda *args: hollowed.append(True) or real_hollow(*args)
    corruptions.corrupt = lambda image, name, *args, **kwargs: (
        corruption.append(name) or real_corrupt(image, name, *args, **kwargs))
    items = []
    try:
        for index in range(count):
            hollowed.clear()
            corruption.clear()
            _, line, number = fixed_sets.fixed_item(x, y, index, lengths[index],
                                                     fixed_sets.VALIDATION_SEED)
            look = np.random.default_rng([fixed_sets.VALIDATION_SEED, 0, index, 1])
            photographed = bool(look.random() < composed.PHOTO_FRACTION)  # as fixed_item
            items.append((line, number, photographed, bool(hollowed), "".join(corruption)))
    finally:
        hands.hollow_out, corruptions.corrupt = real_hollow, real_corrupt
    lines, numbers, photographed, outlined, corrupted = zip(*items)
    return (list(lines), [n.label for n in numbers], [n.metadata() for n in numbers],
            np.array(photographed), np.array(outlined), np.array(corrupted),
            np.array([shared_ink(n) for n in numbers]))


def hollow_hand_numbers(per_hand: int) -> tuple[list, list[str], list[int]]:
    """(lines, labels, hands) of `per_hand` numbers in each training hand drawn in outline and
    photographed as digits-handwriting photographs them; a line is None where the photo gave no
    ink (read as nothing)."""
    lines, labels, drawn_by = [], [], []
    for hand_index in hands.training_hands():
        hands.check_training_draw(hand_index, HOLLOW_SEED)
        hand = dataclasses.replace(hands.make_hand(hand_index), hollow=True)
        for index in range(per_hand):
            rng = np.random.default_rng([HOLLOW_SEED, hand_index, index])
            number = hand_numbers.draw_number(hand_numbers.random_label(rng), hand, rng)
            photo = hand_numbers.photograph_line(number.coverage, hand.ink, rng)
            photo = cv2.imdecode(cv2.imencode(".jpg", photo)[1], cv2.IMREAD_UNCHANGED)
            try:
                lines.append(mnist_style.to_line(photo))
            except mnist_style.NoDigitError:
                lines.append(None)
            labels.append(number.label)
            drawn_by.append(hand_index)
    return lines, labels, drawn_by


def read_hollow_hands(model, per_hand: int) -> None:
    lines, labels, drawn_by = hollow_hand_numbers(per_hand)
    readings = iter(crnn.read_lines(model, [line for line in lines if line is not None]))
    read = ["" if line is None else next(readings).number for line in lines]
    exact = np.array([r == t for r, t in zip(read, labels)])
    drawn_by = np.array(drawn_by)
    print(f"training hands drawn in outline, {per_hand} each: exact {exact.mean():.3f}, no ink "
          f"found in {sum(line is None for line in lines)}; by hand "
          + " ".join(f"{h}:{exact[drawn_by == h].mean():.2f}" for h in hands.training_hands()))


def kind(read: str, true: str) -> str:
    if read == true:
        return "exact"
    if len(read) == len(true):
        return "same length"
    if len(read) > len(true):
        return "digits gained"
    dropped = [i for i in range(len(true)) if true[:i] + true[i + 1:] == read]
    if any(0 < i and true[i - 1] == true[i] or i + 1 < len(true) and true[i + 1] == true[i]
           for i in dropped):
        return "lost one of two equal neighbours"
    return "digits lost"


def share(mask: np.ndarray, exact: np.ndarray) -> str:
    return f"{exact[mask].mean():.3f} ({int(mask.sum())})" if mask.any() else "-"


def audit(lines, labels, read, count: int, folder: Path) -> None:
    rng = np.random.default_rng(7)
    wrong = [i for i in range(len(lines)) if read[i] != labels[i]]
    right = [i for i in range(len(lines)) if read[i] == labels[i]]
    picked = [int(i) for i in np.concatenate([
        rng.choice(wrong, min(count, len(wrong)), replace=False),
        rng.choice(right, min(count // 4, len(right)), replace=False)])]
    rng.shuffle(picked)
    folder.mkdir(parents=True, exist_ok=True)
    key = []
    for sheet in range(0, len(picked), 10):
        rows = []
        for n, i in enumerate(picked[sheet:sheet + 10], start=sheet):
            big = cv2.resize(lines[i], None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
            tag = np.full((big.shape[0], 60), 90, np.uint8)
            cv2.putText(tag, str(n), (5, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 255, 2)
            rows.append(np.hstack([tag, big]))
            key.append({"n": n, "true": labels[i], "read": read[i]})
        width = max(row.shape[1] for row in rows)
        cv2.imwrite(str(folder / f"sheet_{sheet // 10}.png"), np.vstack(
            [np.pad(row, ((3, 3), (0, width - row.shape[1])), constant_values=40) for row in rows]))
    (folder / "key.json").write_text(json.dumps(key, indent=1))
    print(f"audit: {len(picked)} lines on {(len(picked) + 9) // 10} sheets in {folder} "
          "(key.json holds the answers)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a sequence model: run or .keras")
    parser.add_argument("--count", type=int, default=1000, help="validation numbers read (1000)")
    parser.add_argument("--views", action="store_true",
                        help="read each line in digits-predict's views, not once")
    parser.add_argument("--stretch", type=float, nargs="*", default=[1.15, 1.3],
                        help="width factors to read the lines at too (1.15 1.3)")
    parser.add_argument("--audit", type=int, default=0, metavar="N",
                        help="write N misread lines (and N/4 read right) to read blind")
    parser.add_argument("--audit-dir", type=Path, default=Path("number_audit"))
    parser.add_argument("--hollow-hands", type=int, default=0, metavar="N",
                        help="also read N numbers per training hand drawn in outline (0: none)")
    args = parser.parse_args()

    model = model_files.load(args.model)
    lines, labels, metadata, photographed, outlined, corrupted, shared = validation_numbers(
        args.count)
    widths = number_reader.READ_WIDTHS if args.views else (1.0,)
    read = [r.number for r in number_reader.read(model, lines, widths)]
    exact = np.array([r == t for r, t in zip(read, labels)])
    print(f"{args.count} fixed validation numbers, read at widths {widths}: "
          f"exact {exact.mean():.4f}")
    print(f"photographed {share(photographed, exact)}, clean {share(~photographed, exact)}")
    spacings = np.array([m["spacing"] for m in metadata])
    length = np.array([m["length"] for m in metadata])
    for spacing in (*number_layout.SPACINGS, number_layout.SINGLE):
        chosen = spacings == spacing
        print(f"  {spacing:<12} photographed {share(chosen & photographed, exact):<14} "
              f"clean {share(chosen & ~photographed, exact):<14} by length: " + " ".join(
                  f"{n}:{exact[chosen & (length == n)].mean():.2f}"
                  for n in range(1, number_layout.MAX_DIGITS + 1)
                  if (chosen & (length == n)).any()))
    bins = [("none", shared == 0), ("under 0.05", (shared > 0) & (shared < 0.05))] + [
        (f"[{low:.2f}, {high:.2f})", (shared >= low) & (shared < high))
        for low, high in zip((0.05, 0.1, 0.2, 0.3), (0.1, 0.2, 0.3, 1.01))]
    print("by the largest share of a digit's ink another digit's ink covers too: "
          + ", ".join(f"{name} {share(chosen, exact)}" for name, chosen in bins))
    print("photographed, by corruption: " + ", ".join(
        f"{name or 'none'} {share(photographed & (corrupted == name), exact)}"
        for name in sorted(set(corrupted[photographed]))))
    print(f"outlined {share(outlined, exact)}, the rest {share(~outlined, exact)}")
    kinds = Counter(kind(r, t) for r, t in zip(read, labels))
    print("misreadings:", ", ".join(f"{name} {n}" for name, n in kinds.most_common()
                                    if name != "exact"))
    pairs = Counter((a, b) for r, t in zip(read, labels) if r != t and len(r) == len(t)
                    for a, b in zip(t, r) if a != b)
    print("digit read as another (true->read):",
          " ".join(f"{a}->{b} {n}" for (a, b), n in pairs.most_common(8)))
    for factor in args.stretch:
        wide = [r.number for r in crnn.read_lines(
            model, [number_lines.scale_width(line, factor) for line in lines])]
        lost = sum(len(r) < len(t) for r, t in zip(wide, labels))
        print(f"stretched x{factor}: exact {np.mean([r == t for r, t in zip(wide, labels)]):.4f}"
              f", lost digits in {lost} (unstretched: "
              f"{sum(len(r) < len(t) for r, t in zip(read, labels))})")
    if args.audit:
        audit(lines, labels, read, args.audit, args.audit_dir)
    if args.hollow_hands:
        read_hollow_hands(model, args.hollow_hands)


if __name__ == "__main__":
    main()
