"""benchmarks/ablations.py: trains each variant of experiment=handwriting once per seed, resumes
without retraining, and tables the runs measured on one validation suite."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import scores
from omegaconf import OmegaConf

from digits.synth import hands
from digits.models import model_files
from digits.data import reader_views
from digits.evaluation import robustness

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "ablations.py"
TINY = ["--epochs", "1", "--seeds", "1", "--size", "50", "--only", "recipe", "no_hands",
        "--set", "data.train_size=300", "data.val_size=200", "data.test_size=200",
        "data.hand_photos=2", "trainer.batch_size=32", "trainer.verbose=0",
        "model.filters=[8,16,32]", "model.dense_units=32"]


def load_script():
    spec = importlib.util.spec_from_file_location("ablations", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_overrides_vary_the_training_seed_only_and_keep_the_warmup_valid():
    ablations = load_script()
    one = ablations.overrides("no_corrupted", 2, 1, ["data.train_size=300"], Path("out/x"))
    assert "trainer.seed=2" in one and not any(item.startswith("seed=") for item in one)
    assert "trainer.warmup_epochs=0.25" in one and "data.corrupted_fraction=0" in one
    assert one[-1] == "hydra.run.dir=out/x"  # after --set: the folder is the script's
    assert "trainer.warmup_epochs=1.0" in ablations.overrides("recipe", 1, 8, [], Path("x"))


def hand_photos(run_dir: Path) -> int:
    return OmegaConf.load(run_dir / ".hydra" / "config.yaml").data.hand_photos


def training_images(log: Path) -> int:
    return int(re.search(r"data: (\d+) train", log.read_text()).group(1))


@pytest.mark.slow
def test_trains_each_variant_once_then_resumes_without_retraining(tmp_path, capsys):
    ablations = load_script()
    assert ablations.main(["--out", str(tmp_path), *TINY]) == 0
    first = capsys.readouterr().out
    report = json.loads((tmp_path / "ablations.json").read_text())
    assert list(report["variants"]) == ["recipe", "no_hands"]
    for variant in ("recipe", "no_hands"):
        run_dir = tmp_path / f"{variant}_s1"
        run = report["variants"][variant]["runs"]["1"]
        assert (tmp_path / f"{variant}_s1.log").read_text().startswith("$ digits-train ")
        for key in ablations.COLUMNS:
            assert report["variants"][variant]["summary"][key] == {"mean": run[key],
                                                                   "spread": 0.0}
        # The figures are the run's own: its plain MNIST validation digits, measured here apart
        # (a one-epoch model on a few hundred images is near chance: nothing to compare with).
        validation = robustness.run_split(run_dir, "validation")
        assert len(validation[1]) == 200
        assert run["mnist_validation"] == pytest.approx(  # other batches: a near-tie may flip
            scores(model_files.load(run_dir), *validation)["accuracy"], abs=0.011)
        suite = run["robustness"]
        assert suite["images"] == 50 and suite["split"] == "validation"
        assert run["raw_mean"] == suite["raw"]["mean"]
        assert run["photo_mean"] == suite["photo"]["mean"]
        assert run["held_out_mean"] == pytest.approx(np.mean(
            [suite["raw"]["accuracy"][name] for name in suite["held_out"]]))
        assert run["train_seconds"] == json.loads((run_dir / "metrics.json").read_text())[
            "train_seconds"]
    # The variant's override comes after --set's data.hand_photos=2, so it wins: the run trained
    # on exactly the hand photos fewer.
    assert hand_photos(tmp_path / "no_hands_s1") == 0
    assert hand_photos(tmp_path / "recipe_s1") == 2
    hand_images = reader_views.cached("train-hands", [2, 42, hands.training_hands()],
                                     lambda: reader_views.hand_views(2, 42))[1]
    assert training_images(tmp_path / "recipe_s1.log") - len(hand_images) == training_images(
        tmp_path / "no_hands_s1.log")
    assert "trained in" in first and "| recipe | 1 |" in first and "| no_hands | 1 |" in first

    stamps = {path: path.stat().st_mtime_ns for path in tmp_path.glob("*_s1/metrics.json")}
    assert len(stamps) == 2
    assert ablations.main(["--out", str(tmp_path), *TINY]) == 0
    second = capsys.readouterr().out
    assert second.count("done before, skipped") == 2 and "trained in" not in second
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps
    again = json.loads((tmp_path / "ablations.json").read_text())
    assert again["variants"]["recipe"]["summary"] == report["variants"]["recipe"]["summary"]

    # Other settings in the same folder: refused before anything is trained or measured.
    with pytest.raises(SystemExit) as stop:
        ablations.main(["--out", str(tmp_path), *TINY, "--epochs", "2"])
    assert stop.value.code == 2
    assert "recipe_s1 was trained with other overrides" in capsys.readouterr().err
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps
