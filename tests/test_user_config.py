"""A user's own config folder (Hydra's --config-dir): new options of shipped groups, an
experiment using them, and an optional local/default.yaml read on every run; from the checkout
and, slow, from a wheel installed in a fresh virtual environment run in an empty folder."""

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
import yaml

from helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]

WIDE_MLP = """\
defaults:
  - /schema/model/mlp@_here_
  - _self_

hidden_units: [48]
dropout: 0.1
"""
MINE = """\
# @package _global_
defaults:
  - override /model: wide_mlp
  - override /augmentation: none

data:
  train_size: 600
  val_size: 200
  test_size: 200
trainer:
  learning_rate: 0.002
  verbose: 0
"""
LOCAL = """\
# @package _global_
paths:
  output: my_runs
seed: 7
"""


def user_config(folder: Path) -> Path:
    conf = folder / "my_conf"
    for name, text in [("model/wide_mlp.yaml", WIDE_MLP), ("experiment/mine.yaml", MINE),
                       ("local/default.yaml", LOCAL)]:
        (conf / name).parent.mkdir(parents=True, exist_ok=True)
        (conf / name).write_text(text)
    return conf


def test_a_user_folder_adds_options_an_experiment_and_local_settings(tmp_path):
    conf = user_config(tmp_path)
    result = run_cli("digits.train", "--config-dir", str(conf), "experiment=mine",
                     "trainer.learning_rate=0.001", "--cfg", "job", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    cfg = yaml.safe_load(result.stdout)
    assert cfg["model"]["name"] == "mlp" and cfg["model"]["hidden_units"] == [48]
    assert cfg["data"]["train_size"] == 600 and cfg["augmentation"]["rotation_degrees"] == 0
    assert cfg["seed"] == 7 and cfg["paths"]["output"] == "my_runs"  # local/default.yaml
    assert cfg["trainer"]["learning_rate"] == 0.001  # the command line wins over them all


def test_a_user_option_out_of_range_is_refused_before_data_loads(tmp_path):
    conf = user_config(tmp_path)
    (conf / "model" / "wide_mlp.yaml").write_text(WIDE_MLP.replace("0.1", "1.5"))
    result = run_cli("digits.train", "--config-dir", str(conf), "experiment=mine", cwd=tmp_path)
    assert result.returncode == 2
    assert "model.dropout (mlp)=1.5 is invalid" in result.stdout + result.stderr


def fresh_environment(folder: Path) -> Path:
    """A virtual environment holding a wheel of this checkout, built here, and seeing the test
    environment's installed dependencies (not its digits: the wheel's comes first)."""
    source = folder / "source"
    shutil.copytree(ROOT, source, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", "tests", "build", "*.egg-info",
                                                  "__pycache__", "outputs", "multirun"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(folder / "dist"), str(source)], check=True)
    environment = folder / "venv"
    venv.create(environment, with_pip=False)
    python = environment / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    [wheel] = (folder / "dist").glob("digits-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--no-deps", "-q", str(wheel)], check=True)
    return environment


@pytest.mark.slow
def test_a_user_experiment_trains_from_a_wheel_in_an_empty_folder(tmp_path):
    environment = fresh_environment(tmp_path / "install")
    work = tmp_path / "empty"
    work.mkdir()
    conf = user_config(work)
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DIGITS_CACHE": str(tmp_path)}
    where = subprocess.run([str(environment / "bin" / "python"), "-c",
                            "import digits; print(digits.__file__)"], cwd=work, env=clean,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(environment)), where  # the wheel's, not the checkout's
    result = subprocess.run([str(environment / "bin" / "digits-train"), "--config-dir", "my_conf",
                             "experiment=mine", "trainer=smoke"], cwd=work, capture_output=True,
                            text=True, timeout=900, env=clean)
    assert result.returncode == 0, result.stderr[-3000:]
    [metrics_file] = (work / "my_runs").glob("*/*/metrics.json")  # paths.output from local/
    metrics = json.loads(metrics_file.read_text())
    assert metrics["epochs"] == 1 and metrics["model"]["config"]["hidden_units"] == [48]
    assert conf.is_dir() and not (work / "outputs").exists()
