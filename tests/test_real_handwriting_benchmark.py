"""benchmarks/real_handwriting.py on data the project makes: a folder of number photos with
labels.csv, and an .npz of small binarised digits (dark ink on white), as the real sets are laid."""

import runpy
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import DATA, SMALL_CNN

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "real_handwriting.py"


def run_benchmark(capsys, monkeypatch, *args: str) -> str:
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *args])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    return capsys.readouterr().out


@pytest.fixture
def small_scans(tmp_path) -> Path:
    """40 MNIST test digits as 16x16 binarised scans, dark ink on white."""
    with np.load(Path(__file__).resolve().parents[1] / "digits/resources/mnist.npz") as mnist:
        x, y = mnist["x_test"][:40], mnist["y_test"][:40]
    small = np.stack([cv2.resize(image, (16, 16), interpolation=cv2.INTER_AREA) for image in x])
    path = tmp_path / "scans.npz"
    np.savez(path, images=np.where(small > 64, 0, 255).astype(np.uint8), labels=y)
    return path


def test_digits_in_an_npz_are_read_as_enlarged_scans(small_scans, capsys, monkeypatch, tmp_path):
    out = run_benchmark(capsys, monkeypatch, "--data", str(small_scans), "--model", str(SMALL_CNN),
                        "--sheet", str(tmp_path / "sheet.png"))
    assert "40 digits from" in out
    exact = float(out.split("exact ")[1].split()[0])
    assert exact > 0.5  # a model trained on MNIST reads most enlarged scans of MNIST digits
    assert "unsure flag:" in out and "most frequent confusions" in out
    if exact < 1:
        assert cv2.imread(str(tmp_path / "sheet.png")).shape[0] > 0


def test_numbers_in_a_folder_are_read_as_digits_predict_reads_them(capsys, monkeypatch):
    out = run_benchmark(capsys, monkeypatch, "--data", str(DATA / "numbers"), "--limit", "4",
                        "--through-server")
    assert "4 numbers from" in out
    # the shipped number reader reads all 12 shared number photos (test_shipped_models)
    assert "exact 1.0000 (4 of 4)" in out
    assert "character error rate 0.0000" in out
    assert "through digits-serve's API: 4 of 4 read the same as the command" in out


def test_a_folder_without_labels_is_refused(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit, match="no labels.csv"):
        run_benchmark(capsys, monkeypatch, "--data", str(tmp_path))
