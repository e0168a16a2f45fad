"""Confidence on arrays: softmax with a temperature and its fit, the expected calibration error
and its reliability bins, and the low-confidence cut ("unsure below") that keeps accuracy on
the readings not flagged. digits-calibrate, digits-evaluate and the robustness suite share them.
"""

from __future__ import annotations

import numpy as np

BINS = 15  # expected calibration error: equal-width confidence bins (digits-evaluate's too)
TARGET_ACCURACY = 0.99  # on readings not flagged unsure
MAX_FLAGGED = 0.10  # share of readings flagged unsure at most
TEMPERATURES = np.exp(np.linspace(np.log(0.05), np.log(20.0), 241))  # searched, then refined


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = np.asarray(logits, np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def probabilities(member_logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(members, n, classes) logits -> (n, classes): the members' tempered softmax averaged
    (one member: its softmax)."""
    return softmax(member_logits, temperature).mean(axis=0)


def nll(member_logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    p = probabilities(member_logits, temperature)[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(p, 1e-12, 1.0))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the NLL of `labels`: logits (n, classes) of one model or
    (members, n, classes) of an ensemble. A grid in log T, then a finer grid around its best."""
    member_logits = logits[None] if logits.ndim == 2 else logits
    labels = np.asarray(labels, int)
    grid = TEMPERATURES
    for _ in range(3):
        losses = [nll(member_logits, labels, t) for t in grid]
        best = int(np.argmin(losses))
        low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
        grid = np.exp(np.linspace(np.log(low), np.log(high), 41))
    return float(grid[int(np.argmin([nll(member_logits, labels, t) for t in grid]))])


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = BINS):
    """(expected calibration error, per-bin accuracy, per-bin mean confidence, per-bin count)
    over equal-width confidence bins: the ECE sums |accuracy - mean confidence| x the bin's
    share; digits-evaluate draws the bins as a reliability diagram."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    count = np.bincount(index, minlength=bins)
    accuracy = np.bincount(index, weights=correct, minlength=bins) / np.maximum(count, 1)
    mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / np.maximum(count, 1)
    ece = float(np.sum(count / len(confidence) * np.abs(accuracy - mean_confidence)))
    return ece, accuracy, mean_confidence, count


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray,
                               bins: int = BINS) -> float:
    return reliability_bins(confidence, correct, bins)[0]


def flag_figures(confidence: np.ndarray, correct: np.ndarray, unsure_below: float) -> dict:
    """What a cut does: readings with confidence < unsure_below are flagged unsure."""
    kept = confidence >= unsure_below
    return {"flagged_share": float(1 - kept.mean()),
            "unflagged_accuracy": float(correct[kept].mean()) if kept.any() else 1.0}


def choose_threshold(confidence: np.ndarray, correct: np.ndarray,
                     target: float = TARGET_ACCURACY, max_flagged: float = MAX_FLAGGED,
                     always_flagged: np.ndarray | None = None) -> dict:
    """The lowest cut (readings below it flagged) leaving accuracy >= target on the others with
    at most max_flagged flagged. If there is none, the cut within max_flagged that leaves the
    highest accuracy (`target_met` False). Cuts are 0 (nothing flagged) and each confidence.
    `always_flagged` marks readings flagged whatever the cut (a sequence model's line read as
    no digit: number_reader.is_flagged); they count as flagged at every cut, 0 included."""
    n = len(confidence)
    forced = np.zeros(n, bool) if always_flagged is None else np.asarray(always_flagged, bool)
    order = np.argsort(np.asarray(confidence)[~forced], kind="stable")
    confidence = np.asarray(confidence)[~forced][order]
    correct = np.asarray(correct, float)[~forced][order]
    cuts, first = np.unique(confidence, return_index=True)  # flagging `first[i]` readings
    cuts, first = np.concatenate([[0.0], cuts]), np.concatenate([[0], first])
    right_above = correct.sum() - np.concatenate([[0.0], np.cumsum(correct)])[first]
    kept_accuracy = right_above / np.maximum(len(confidence) - first, 1)
    flagged_share = (first + forced.sum()) / n
    within = flagged_share <= max_flagged
    meets = within & (kept_accuracy >= target)
    if meets.any():
        chosen = int(np.argmax(meets))  # the first, i.e. the lowest cut
    else:  # if those flagged anyway exceed the budget already, flag no more
        allowed = within if within.any() else first == 0
        chosen = int(np.flatnonzero(allowed)[np.argmax(kept_accuracy[allowed])])
    return {"unsure_below": float(cuts[chosen]), "flagged_share": float(flagged_share[chosen]),
            "unflagged_accuracy": float(kept_accuracy[chosen]), "target_met": bool(meets.any()),
            "target_accuracy": target, "max_flagged": max_flagged}


def figures(probabilities: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct) of each reading."""
    return probabilities.max(axis=1), probabilities.argmax(axis=1) == labels
