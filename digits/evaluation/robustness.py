"""The robustness suite: a model's accuracy on MNIST digits under every corruption, two ways.

A fixed, stratified subset of SUITE_SIZE digits from the validation split (every choice is made
there; `split="test"` is for the final report) is read

- raw: each 28x28 image corrupted (digits.synth.corruptions), then given to the model;
- photo: each digit photographed as dark ink on paper (PHOTO_SIDE px, digits.synth.hands' paper and
  camera), corrupted at that size, then read through mnist_style.to_mnist as digits-predict reads a
  photo. A photo in which the reader finds no digit counts as wrong.

Everything is seeded (SUITE_SEED): the same split gives the same images on any machine. The
held-out corruption families (corruptions.HELD_OUT) are reported apart. `run` writes JSON,
figures and TensorBoard (digits.evaluation.robustness_report) into RUN/evaluations/robustness/SPLIT/.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import keras
import numpy as np

from digits.config.schemas import DataConfig, HandwritingDataConfig, data_config
from digits.data import datasets
from digits.evaluation import confidence, robustness_report
from digits.evaluation.robustness_suite import (EXAMPLES, NAMES, PATHS, PHOTO_FRAME, PHOTO_SIDE,
                                                PHOTO_UNIT, SUITE_SEED, SUITE_SIZE, Suite)
from digits.models import inference, model_files
from digits.runs import metadata
from digits.synth import corruptions, hands
from digits.vision import image_files, mnist_style

def run_split(model_path: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST `split` ("validation" or "test") as the model's run drew it (its saved data
    config and seed), so the validation images are ones it never trained on."""
    if split not in ("validation", "test"):
        raise ValueError(f"split must be validation or test, not {split!r}")
    run_cfg = metadata.run_config(model_files.resolve(model_path).parent)
    saved_data = run_cfg.get("data", {})
    # A model trained on photos (data=folder) is measured on MNIST's split for its seed; one
    # trained on data=handwriting on its MNIST split alone (the same images, without the reader
    # views data=handwriting adds), so every model meets the same kind of digits.
    cfg = DataConfig() if saved_data.get("source", "npz") == "folder" else data_config(saved_data)
    if isinstance(cfg, HandwritingDataConfig):
        cfg = DataConfig(path=cfg.path, val_size=cfg.val_size, train_size=cfg.train_size,
                         test_size=cfg.test_size)
    splits = datasets.load(cfg, seed=metadata.seed(run_cfg))
    return (splits.x_val, splits.y_val) if split == "validation" else (splits.x_test,
                                                                       splits.y_test)


def subset(images: np.ndarray, labels: np.ndarray, size: int = SUITE_SIZE):
    """A fixed, stratified subset (all of it when `size` >= the images)."""
    if size >= len(labels):
        return images, labels
    taken, _ = datasets.stratified_split(labels, size, SUITE_SEED)
    return images[taken], labels[taken]


def photograph(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uint8 28x28 MNIST digit -> uint8 grey PHOTO_SIDE photo of it in dark ink on paper."""
    frame = cv2.resize(digit.astype(np.float32) / 255, (PHOTO_FRAME, PHOTO_FRAME),
                       interpolation=cv2.INTER_CUBIC)
    coverage = np.zeros((PHOTO_SIDE, PHOTO_SIDE), np.float32)
    top, left = rng.integers(0, PHOTO_SIDE - PHOTO_FRAME + 1, 2)
    # Enlarged, MNIST's anti-aliased edge is a wide ramp: steepen it into a pen's edge.
    coverage[top:top + PHOTO_FRAME, left:left + PHOTO_FRAME] = np.clip((frame - 0.25) / 0.4, 0, 1)
    ink = hands.NEW_INKS[int(rng.integers(len(hands.NEW_INKS)))]
    photo = hands.camera(hands.on_paper(coverage, ink, rng), rng)
    return cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)


def draws(index: int, path: str, name: str) -> np.random.Generator:
    """The random draws for one image of one (path, corruption): independent of the others."""
    return np.random.default_rng([SUITE_SEED, PATHS.index(path), NAMES.index(name), index])


def read_photo(photo: np.ndarray) -> tuple[np.ndarray, bool]:
    try:
        return mnist_style.to_mnist(photo), True
    except mnist_style.NoDigitError:
        return np.zeros((28, 28), np.uint8), False


def one_digit(index: int, digit: np.ndarray, keep_photos: bool) -> dict:
    """Every corrupted version of one digit, raw and photographed."""
    out = {("raw", "clean"): (digit, True)}
    photo = photograph(digit, np.random.default_rng([SUITE_SEED, len(PATHS), index]))
    out[("photo", "clean")] = read_photo(photo)
    kept = {"clean": photo} if keep_photos else {}
    for name in NAMES:
        out[("raw", name)] = (corruptions.corrupt(digit, name, draws(index, "raw", name)), True)
        damaged = corruptions.corrupt(photo, name, draws(index, "photo", name), PHOTO_UNIT,
                                      ink_is_light=False)
        out[("photo", name)] = read_photo(damaged)
        if keep_photos:
            kept[name] = damaged
    return {"seen": out, "photos": kept}


def build(images: np.ndarray, labels: np.ndarray, split: str = "validation",
          workers: int | None = None) -> Suite:
    """The suite for these (already chosen) images: OpenCV releases the GIL, so threads."""
    with ThreadPoolExecutor(workers or os.cpu_count()) as pool:
        per_digit = list(pool.map(one_digit, range(len(images)), images,
                                  [i < EXAMPLES for i in range(len(images))]))
    keys = per_digit[0]["seen"].keys()
    seen = {key: np.stack([d["seen"][key][0] for d in per_digit]) for key in keys}
    readable = {key: np.array([d["seen"][key][1] for d in per_digit]) for key in keys}
    photos = {name: [d["photos"][name] for d in per_digit[:EXAMPLES]]
              for name in ("clean",) + NAMES}
    return Suite(split, labels, seen, readable, photos)


def build_for(model_path: str | Path, split: str = "validation", size: int = SUITE_SIZE) -> Suite:
    return build(*subset(*run_split(model_path, split), size), split=split)


def summarise(accuracy: dict[str, float]) -> dict[str, float]:
    kept = [accuracy[n] for n in NAMES if n not in corruptions.HELD_OUT]
    held = [accuracy[n] for n in NAMES if n in corruptions.HELD_OUT]
    return {"mean": float(np.mean([accuracy[n] for n in NAMES])),
            "held_out_mean": float(np.mean(held)), "other_mean": float(np.mean(kept)),
            "worst": min(NAMES, key=accuracy.get)}


def photo_calibration(probabilities: dict[str, np.ndarray], suite: Suite,
                      unsure_below: float) -> dict:
    """A calibrated model's confidence on the photo path (its probabilities per corruption), for
    the clean photos and for every photo of the suite (clean and corrupted: what users meet):
    expected calibration error over the photos the reader read, the share flagged under
    `unsure_below` and accuracy on the rest. A photo the reader finds no digit in is flagged
    (digits-predict answers it with an error)."""
    def figures(names) -> dict:
        readable = np.concatenate([suite.readable["photo", name] for name in names])
        labels = np.tile(suite.labels, len(names))
        sure, correct = confidence.figures(
            np.concatenate([probabilities[name] for name in names]), labels)
        sure = np.where(readable, sure, 0.0)  # below any cut: flagged
        return {"images": int(len(labels)), "unreadable": int((~readable).sum()),
                "expected_calibration_error": confidence.expected_calibration_error(
                    sure[readable], correct[readable]),
                **confidence.flag_figures(sure, correct & readable, unsure_below)}

    return {"unsure_below": unsure_below, **figures(("clean",)),
            "every_photo": figures(("clean",) + NAMES)}


def evaluate(model: keras.Model, suite: Suite, unsure_below: float | None = None) -> dict:
    """Accuracy per path and corruption (an unreadable photo counts as wrong), with means; with
    the model's `unsure_below` (digits-calibrate) also photo_calibration."""
    result = {"split": suite.split, "images": int(len(suite.labels)), "suite_seed": SUITE_SEED,
              "photo_side": PHOTO_SIDE, "held_out": sorted(corruptions.HELD_OUT),
              "severity": {n: c.severity for n, c in corruptions.CORRUPTIONS.items()}}
    names = ("clean",) + NAMES
    for path in PATHS:
        accuracy, unreadable = {}, {}
        every = inference.predict(model, np.concatenate([suite.seen[path, name]
                                                         for name in names]))
        by_name = dict(zip(names, np.split(every, len(names))))
        for name, probabilities in by_name.items():
            right = (probabilities.argmax(axis=1) == suite.labels) & suite.readable[path, name]
            accuracy[name] = float(right.mean())
            unreadable[name] = int((~suite.readable[path, name]).sum())
        result[path] = {"accuracy": accuracy, **summarise(accuracy)}
        if path == "photo":
            result[path]["unreadable"] = unreadable
            if unsure_below is not None:
                result[path]["calibration"] = photo_calibration(by_name, suite, unsure_below)
    return result


def table(results: dict[str, dict]) -> str:
    """Per-corruption accuracy, side by side for every model (label -> evaluate's result)."""
    labels = list(results)
    header = f"{'corruption':<16}" + "".join(f"{label[-19:]:>20}" for label in labels)
    lines = [header, f"{'':<16}" + "".join(f"{'raw':>10}{'photo':>10}" for _ in labels)]

    def row(title, pick):
        return f"{title:<16}" + "".join(f"{pick(r['raw']):>10.4f}{pick(r['photo']):>10.4f}"
                                        for r in results.values())
    lines.append(row("clean", lambda r: r["accuracy"]["clean"]))
    for name in NAMES:
        title = name + (" *" if name in corruptions.HELD_OUT else "")
        lines.append(row(title, lambda r, n=name: r["accuracy"][n]))
    lines += [row("mean", lambda r: r["mean"]),
              row("held-out mean *", lambda r: r["held_out_mean"]),
              row("other mean", lambda r: r["other_mean"])]
    for label, result in results.items():
        if "calibration" in result["photo"]:
            fit = result["photo"]["calibration"]
            for title, part in (("clean photos", fit), ("every photo", fit["every_photo"])):
                lines.append(f"{label}: {title}, ECE {part['expected_calibration_error']:.4f}, "
                             f"{part['flagged_share']:.2%} flagged under "
                             f"{fit['unsure_below']:.4f}, accuracy "
                             f"{part['unflagged_accuracy']:.4f} on the rest")
    first = next(iter(results.values()))
    lines.append(f"* never used in training.  {first['images']} images of the {first['split']} "
                 "split; an unreadable photo counts as wrong.")
    return "\n".join(lines)


def hand_photos(hand: int, per_digit: int, seed: int = hands.FIRST_MEASURING_SEED):
    """The photos `digits-handwriting OUT --hand H --per-digit N --seed S` writes (the same draws,
    the same JPEG file), read as digits-predict reads them: (28x28 images, labels, readable)."""
    style, rng = hands.make_hand(hand), np.random.default_rng(seed)
    read = [(digit, *read_photo(image_files.decode_bytes(cv2.imencode(
        ".jpg", hands.photo(digit, style, rng))[1].tobytes())))
        for digit in range(10) for _ in range(per_digit)]
    labels, images, readable = zip(*read)
    return np.stack(images), np.array(labels), np.array(readable)


def hand_accuracy(models: dict[str, keras.Model], per_digit: int,
                  seed: int = hands.FIRST_MEASURING_SEED) -> dict[str, dict]:
    """Single-digit accuracy per hand 0-19 for each model, and seen / unseen hands' means."""
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        read = list(pool.map(lambda hand: hand_photos(hand, per_digit, seed), range(hands.HANDS)))
    results = {}
    for label, model in models.items():
        per_hand = {hand: float(((inference.predict(model, images).argmax(axis=1) == labels)
                                 & readable).mean())
                    for hand, (images, labels, readable) in enumerate(read)}
        unseen = [per_hand[h] for h in hands.UNSEEN_HANDS]
        seen = [per_hand[h] for h in hands.training_hands()]
        results[label] = {"per_hand": per_hand, "seen_mean": float(np.mean(seen)),
                          "unseen_mean": float(np.mean(unseen)), "photos_per_hand": 10 * per_digit,
                          "seed": seed}
    return results


def hand_table(results: dict[str, dict]) -> str:
    lines = [f"{'hand':<16}" + "".join(f"{label[-19:]:>20}" for label in results)]
    for hand in range(hands.HANDS):
        title = f"{hand}" + (" (unseen)" if hand in hands.UNSEEN_HANDS else "")
        lines.append(f"{title:<16}" + "".join(f"{r['per_hand'][hand]:>20.4f}"
                                              for r in results.values()))
    for key, title in (("seen_mean", "seen 0-11"), ("unseen_mean", "unseen 12-19")):
        lines.append(f"{title:<16}" + "".join(f"{r[key]:>20.4f}" for r in results.values()))
    return "\n".join(lines)


OUTPUT_FILES = ("robustness.json", "accuracy.png", "examples_raw.png", "examples_photo.png")


def output_folder(model_path: str | Path, split: str) -> Path:
    """RUN/evaluations/robustness/SPLIT: beside the model (./digit_reader/... for the shipped
    one: model_files.output_folder), apart from its other evaluations."""
    return model_files.output_folder(model_path) / "evaluations" / "robustness" / split


def run(model_path: str | Path, split: str = "validation", size: int | None = None,
        out_dir: Path | None = None) -> tuple[dict, Path]:
    """Measure the model at `model_path`; write JSON, figures and TensorBoard; (result, folder)."""
    model = model_files.load(model_path)
    suite = build_for(model_path, split, size or SUITE_SIZE)
    result = evaluate(model, suite,
                      metadata.unsure_below(model_files.resolve(model_path).parent, None))
    result["model"] = str(model_files.resolve(model_path))
    out_dir = out_dir or output_folder(model_path, split)
    robustness_report.write_outputs(result, suite, out_dir)
    return result, out_dir
