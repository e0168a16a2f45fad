"""Validation numbers two sequence models misread the same way: how many, of what kind,
and a picture of some of them (the photo or clean view, the line the models read, the reading),
to see whether what both get wrong could be read at all.

    python benchmarks/misread_numbers.py --model A --model B [--count 4000] [--seed 77001]
        [--show 30] [--output misread.jpg]

The numbers are those of benchmarks/validation_numbers.py (fixed_sets.fixed_set of the
validation digits of A's run, --seed drawing numbers other than the fixed ones); each model reads every line as
digits-predict --number does (number_reader.read). The test split is never read.
"""

from __future__ import annotations

import argparse
from collections import Counter

import cv2
import numpy as np

from digits.models import model_files
from digits.calibration import number_calibration
from digits.reading import number_reader
from digits.data.numbers import fixed_sets

TILE_WIDTH = 240  # px of each picture: five across


def same_misreads(labels: list[str], first: list[str], second: list[str]) -> list[int]:
    """Indices of the numbers both readings get wrong, with the same wrong reading."""
    return [i for i, label in enumerate(labels) if first[i] == second[i] != label]


def kinds(labels: list[str], readings: list[str]) -> Counter:
    """Each misread number as 'dropped' (fewer digits read), 'added' (more) or 'substituted'."""
    return Counter("dropped" if len(read) < len(label) else
                   "added" if len(read) > len(label) else "substituted"
                   for label, read in zip(labels, readings) if read != label)


def substitutions(labels: list[str], readings: list[str]) -> Counter:
    """'a->b' for each digit read as another, in misread numbers of the right length."""
    return Counter(f"{a}->{b}" for label, read in zip(labels, readings) if len(read) == len(label)
                   for a, b in zip(label, read) if a != b)


def tile(image: np.ndarray, line: np.ndarray, caption: str) -> np.ndarray:
    """The photo (or clean view) above the line read from it (dark ink), and the caption."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    gray = cv2.resize(gray, (TILE_WIDTH, round(TILE_WIDTH * gray.shape[0] / gray.shape[1])),
                      interpolation=cv2.INTER_AREA)
    scale = min(1.0, TILE_WIDTH / line.shape[1])
    line = cv2.resize(255 - line, (int(line.shape[1] * scale), int(line.shape[0] * scale)),
                      interpolation=cv2.INTER_AREA)
    out = np.full((gray.shape[0] + line.shape[0] + 22, TILE_WIDTH + 8), 255, np.uint8)
    out[:gray.shape[0], 4:4 + TILE_WIDTH] = gray
    out[gray.shape[0]:gray.shape[0] + line.shape[0], 4:4 + line.shape[1]] = line
    cv2.putText(out, caption, (4, out.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 0, 1)
    return out


def montage(tiles: list[np.ndarray], across: int = 5) -> np.ndarray:
    height = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 0)), constant_values=255) for t in tiles]
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % across)
    return np.vstack([np.hstack(tiles[k:k + across]) for k in range(0, len(tiles), across)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="a sequence model (twice)")
    parser.add_argument("--count", type=int, default=4000, help="validation numbers (4000)")
    parser.add_argument("--seed", type=int, default=77001, help="their seed (77001)")
    parser.add_argument("--show", type=int, default=30, help="numbers pictured, at random (30)")
    parser.add_argument("--output", help="write the picture here (a .jpg or .png)")
    args = parser.parse_args()
    if len(args.model) != 2:
        parser.error("give --model exactly twice")
    x, y, _ = number_calibration.validation_digits(args.model[0])
    lines, labels, _ = fixed_sets.fixed_set(x, y, args.count, args.seed)
    first, second = ([r.number for r in number_reader.read(model_files.load(path), lines)]
                     for path in args.model)
    same = same_misreads(labels, first, second)
    both = sum(1 for i, label in enumerate(labels) if first[i] != label and second[i] != label)
    print(f"{len(labels)} validation numbers: misread {sum(r != l for r, l in zip(first, labels))}"
          f" and {sum(r != l for r, l in zip(second, labels))}; by both {both}, "
          f"the same way {len(same)}")
    print("same way, by length:", dict(sorted(Counter(len(labels[i]) for i in same).items())))
    print("same way, kinds:", dict(kinds([labels[i] for i in same], [first[i] for i in same])))
    print("same way, digits:", substitutions([labels[i] for i in same], [first[i] for i in same])
          .most_common(10))
    if args.output and same:
        lengths = fixed_sets.fixed_lengths(args.count, args.seed)
        shown = np.random.default_rng(0).choice(same, min(args.show, len(same)), replace=False)
        tiles = []
        for i in shown:
            image, line, number = fixed_sets.fixed_item(x, y, int(i), int(lengths[i]), args.seed)
            tiles.append(tile(image, line, f"{number.label} read {first[i] or '-'}"))
        cv2.imwrite(args.output, montage(tiles), [cv2.IMWRITE_JPEG_QUALITY, 80])
        print(f"wrote {args.output}: {len(tiles)} of them")


if __name__ == "__main__":
    main()
