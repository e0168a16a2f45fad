"""Models shipped inside the package (digits/resources/models/, docs/shipped_models.md): every
command falls back to them without --model, nothing is ever written into the package, a wheel
carries them, and the shipped files are what docs/shipped_models.md promises (plain Keras, no
optimizer state, the reader's preprocessing version, <= 10 MB together).

The commands' fallbacks run on a stand-in made from tests/data/small_cnn.keras (small and fast,
and the package's own folders stay untouched); the checks of what is shipped run on the real
folders."""

from __future__ import annotations

import csv
import json
import shutil
import socket
import subprocess
import sys
import zipfile
from io import BytesIO
from pathlib import Path

import h5py
import numpy as np
import pytest

import digits
from digits import cli, evaluate, export, predict, serve
from digits.models import model_files
from digits.reading import number_reader
from digits.vision import mnist_style
from digits.vision.image_files import decode
from helpers import DATA, PHOTOS, SMALL_CNN, load_in_plain_keras

ROOT = Path(__file__).resolve().parents[1]
# .hydra/config.yaml: the training run's config, where digits-evaluate finds its validation split
SHIPPED_FILES = (model_files.MODEL_FILE, "metrics.json", "COMMAND.md", ".hydra/config.yaml")
MAX_SHIPPED_BYTES = 10_000_000  # both shipped folders together
PHOTO = PHOTOS / "Humor-Sans_4_0.jpg"  # a 4

# --- what a shipped folder must be ---------------------------------------------------------------
def optimizer_variables(model_file: Path) -> int:
    with zipfile.ZipFile(model_file) as archive:
        weights = h5py.File(BytesIO(archive.read("model.weights.h5")), "r")
        if "optimizer" not in weights:
            return 0
        return len(weights["optimizer"].get("vars", {}))


def shipped_problems(folder: Path, kind: str = "digit") -> list[str]:
    """What is wrong with a folder laid out as a shipped model of `kind` (empty list: nothing)."""
    missing = [name for name in SHIPPED_FILES if not (folder / name).is_file()]
    if missing:
        return [f"{folder} lacks {', '.join(missing)}"]
    problems = []
    count = optimizer_variables(folder / model_files.MODEL_FILE)
    if count:
        problems.append(f"{folder / model_files.MODEL_FILE} holds {count} optimizer variables: ship "
                        "what digits-calibrate writes, or the model loaded with compile=False "
                        "and saved again")
    metrics = json.loads((folder / "metrics.json").read_text())
    version = metrics.get("preprocessing_version")
    # a number reader only ever sees mnist_style.to_line's lines: its version is line_version
    if kind == "digit" and version != mnist_style.PREPROCESSING_VERSION:
        problems.append(f"{folder / 'metrics.json'} says preprocessing_version {version}, but "
                        f"digits.vision.mnist_style.PREPROCESSING_VERSION is {mnist_style.PREPROCESSING_VERSION}: "
                        "the reader's output changed since this model was trained; bump the "
                        "version on purpose and retrain and re-ship the model")
    line_version = metrics.get("line_version")
    if kind == "number" and line_version != mnist_style.LINE_VERSION:
        problems.append(f"{folder / 'metrics.json'} says line_version {line_version}, but "
                        f"digits.vision.mnist_style.LINE_VERSION is {mnist_style.LINE_VERSION}: mnist_style.to_line's "
                        "output changed since this model was trained; retrain and re-ship it")
    if not (folder / "COMMAND.md").read_text().strip():
        problems.append(f"{folder / 'COMMAND.md'} is empty: give the commands that made it")
    return problems


def save_without_optimizer(source: Path, target: Path) -> Path:
    """`source` saved uncompiled: no optimizer state (what digits-calibrate writes)."""
    import keras

    target.parent.mkdir(parents=True, exist_ok=True)
    keras.saving.load_model(source, safe_mode=True, compile=False).save(target)
    return target


def make_shipped_folder(folder: Path, source: Path = SMALL_CNN,
                        version: int = mnist_style.PREPROCESSING_VERSION) -> Path:
    """A stand-in for a shipped model: `source` saved without optimizer state, its metrics.json
    and COMMAND.md."""
    save_without_optimizer(source, folder / model_files.MODEL_FILE)
    (folder / "metrics.json").write_text(json.dumps({"preprocessing_version": version}))
    (folder / "COMMAND.md").write_text("stand-in: tests/data/small_cnn.keras, optimizer dropped\n")
    (folder / ".hydra").mkdir(exist_ok=True)
    (folder / ".hydra" / "config.yaml").write_text("seed: 42\n")
    return folder


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> Path:
    """A package-like resources/models/ with the stand-in as the shipped digit reader."""
    root = tmp_path_factory.mktemp("package") / "models"
    make_shipped_folder(root / model_files.SHIPPED_MODELS["digit"])
    return root


@pytest.fixture
def shipped(stand_in, monkeypatch, tmp_path) -> Path:
    """The stand-in is the package's shipped digit reader; the current directory is a fresh one.
    Returns the shipped folder."""
    monkeypatch.setattr(model_files, "shipped_folder",
                        lambda kind="digit": stand_in / model_files.SHIPPED_MODELS[kind])
    monkeypatch.chdir(tmp_path)
    return stand_in / model_files.SHIPPED_MODELS["digit"]


def listing(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


# --- where the package keeps them ----------------------------------------------------------------
def test_each_kind_has_its_folder_in_the_package():
    package = Path(digits.__file__).parent
    assert model_files.shipped_folder("digit") == package / "resources" / "models" / "digit_reader"
    assert model_files.shipped_folder("number") == package / "resources" / "models" / "number_reader"
    assert model_files.shipped_folder() == model_files.shipped_folder("digit")
    with pytest.raises(ValueError, match="'digit', 'number'"):
        model_files.shipped_folder("letter")


def test_the_default_model_is_the_shipped_file_or_none(tmp_path, monkeypatch):
    monkeypatch.setattr(model_files, "shipped_folder",
                        lambda kind="digit": tmp_path / model_files.SHIPPED_MODELS[kind])
    assert model_files.default_model_path("digit") is None
    assert model_files.default_model_path("number") is None
    make_shipped_folder(tmp_path / "digit_reader")
    assert model_files.default_model_path() == tmp_path / "digit_reader" / "model.keras"
    assert model_files.default_model_path("number") is None  # each kind on its own
    (tmp_path / "number_reader").mkdir()  # a folder without a model is no model
    assert model_files.default_model_path("number") is None


def test_the_real_default_of_each_kind_is_its_shipped_model():
    for kind in model_files.SHIPPED_MODELS:
        default = model_files.default_model_path(kind)
        assert default == model_files.shipped_folder(kind) / model_files.MODEL_FILE
        assert default.is_file()


# --- every command falls back to it; --model still overrides -------------------------------------
def test_predict_without_model_reads_with_the_shipped_model(shipped, capsys):
    assert predict.main([str(PHOTO), "--json", "shipped.json"]) == cli.OK
    assert predict.main([str(PHOTO), "--model", str(SMALL_CNN), "--json", "given.json"]) == cli.OK
    from_shipped = json.loads(Path("shipped.json").read_text())
    assert from_shipped[0]["digit"] == 4
    assert from_shipped == json.loads(Path("given.json").read_text())  # same weights, same answer
    capsys.readouterr()
    missing = str(Path("missing.keras").resolve())
    assert predict.main([str(PHOTO), "--model", missing]) == cli.USAGE  # --model wins
    assert "no model at" in capsys.readouterr().err


def test_serve_without_model_loads_the_shipped_model(shipped, capsys):
    with socket.socket() as taken:  # a busy port ends the command right after the model loads
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert serve.main(["--port", port]) == cli.USAGE
    assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err


def test_evaluate_of_the_shipped_model_writes_in_the_current_directory(shipped, tmp_path):
    before = listing(shipped)
    with np.load(ROOT / "digits" / "resources" / "mnist.npz") as mnist:
        np.savez(tmp_path / "few.npz", x_train=mnist["x_train"][:20], y_train=mnist["y_train"][:20],
                 x_test=mnist["x_test"][:200], y_test=mnist["y_test"][:200])
    assert evaluate.main(["--data", "few.npz"]) == cli.OK
    written = tmp_path / "digit_reader" / "evaluations" / "few"
    result = json.loads((written / "evaluation.json").read_text())
    assert result["images"] == 200 and result["test_accuracy"] > 0.9
    assert listing(shipped) == before  # nothing written into the package
    # ./digit_reader is the user's folder, not a run folder: what is there is kept
    assert evaluate.main(["--data", "few.npz"]) == cli.USAGE
    assert evaluate.main(["--data", "few.npz", "--overwrite"]) == cli.OK


def test_export_of_the_shipped_model_writes_in_the_current_directory(shipped, tmp_path):
    before = listing(shipped)
    assert export.main(["--format", "tflite"]) == cli.OK
    assert (tmp_path / "digit_reader" / "model.tflite").stat().st_size > 10_000
    assert listing(shipped) == before
    assert export.main(["--format", "tflite"]) == cli.USAGE  # refused: already there


def test_an_explicit_path_into_the_package_is_treated_as_shipped(shipped, tmp_path):
    assert model_files.is_shipped(shipped) and model_files.is_shipped(shipped / "model.keras")
    assert model_files.output_folder(shipped) == tmp_path / "digit_reader"
    assert not model_files.is_shipped(SMALL_CNN)
    assert model_files.output_folder(SMALL_CNN) == SMALL_CNN.parent


# --- the checks a shipped folder must pass, and that they have teeth -----------------------------
def test_the_checks_pass_a_good_folder_and_name_each_fault(tmp_path):
    assert shipped_problems(make_shipped_folder(tmp_path / "good")) == []
    assert optimizer_variables(SMALL_CNN) > 0  # a file saved from a compiled, trained model
    bad = make_shipped_folder(tmp_path / "bad", version=mnist_style.PREPROCESSING_VERSION + 1)
    shutil.copy(SMALL_CNN, bad / model_files.MODEL_FILE)
    problems = " ".join(shipped_problems(bad))
    assert "optimizer variables" in problems
    assert "bump the version on purpose and retrain" in problems
    (bad / "COMMAND.md").unlink()
    assert shipped_problems(bad) == [f"{bad} lacks COMMAND.md"]
    assert "line_version None" in " ".join(shipped_problems(tmp_path / "good", "number"))


def test_the_stand_in_keeps_the_predictions_without_the_optimizer(tmp_path):
    import keras

    stripped = save_without_optimizer(SMALL_CNN, tmp_path / "m.keras")
    assert optimizer_variables(stripped) == 0
    assert stripped.stat().st_size < SMALL_CNN.stat().st_size
    images = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(keras.saving.load_model(stripped).predict(images, verbose=0),
                               model_files.load(SMALL_CNN).predict(images, verbose=0), atol=1e-6)


@pytest.mark.parametrize("kind", sorted(model_files.SHIPPED_MODELS))
def test_a_shipped_model_has_its_files_no_optimizer_and_the_readers_version(kind):
    problems = shipped_problems(model_files.shipped_folder(kind), kind)
    assert not problems, "\n".join(problems)


def test_the_shipped_models_load_in_plain_keras_without_digits():
    loaded = load_in_plain_keras([model_files.default_model_path(kind)
                                  for kind in model_files.SHIPPED_MODELS])
    assert [model.optimizer for model in loaded] == [False] * len(model_files.SHIPPED_MODELS)
    assert all(np.isfinite(model.output).all() for model in loaded)


def test_the_shipped_models_together_fit_in_10_mb():
    sizes = {kind: sum(path.stat().st_size for path in model_files.shipped_folder(kind).rglob("*")
                       if path.is_file()) for kind in model_files.SHIPPED_MODELS}
    assert sum(sizes.values()) <= MAX_SHIPPED_BYTES, sizes


# --- a wheel carries them; a fresh install reads a photo with no --model --------------------------
def repo_copy(target: Path) -> Path:
    """The repository's tracked files as they are in the working tree, and its shipped model
    folders' files with a command's output written beside them (which no wheel may carry).
    Building from a copy keeps build/ out of the shared working tree."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True,
                           text=True).stdout.split("\0")
    for name in filter(None, names):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    models = target / "digits" / model_files.SHIPPED_ROOT
    for kind, name in model_files.SHIPPED_MODELS.items():
        shutil.rmtree(models / name, ignore_errors=True)
        (models / name).mkdir(parents=True)
        for file in SHIPPED_FILES:
            (models / name / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(model_files.shipped_folder(kind) / file, models / name / file)
        (models / name / "evaluation.json").write_text("{}")  # a command's output: not shipped
    return target


@pytest.mark.slow  # builds a wheel (pip, setuptools)
def test_a_wheel_carries_the_shipped_models_and_nothing_written_beside_them(tmp_path):
    source = repo_copy(tmp_path / "repo")
    subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w",
                    str(tmp_path / "wheel")], cwd=source, check=True, capture_output=True,
                   timeout=900)
    (wheel,) = (tmp_path / "wheel").glob("digits-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in model_files.SHIPPED_MODELS.values():
        for file in SHIPPED_FILES:
            assert f"digits/resources/models/{name}/{file}" in names
        assert f"digits/resources/models/{name}/evaluation.json" not in names
    assert "digits/resources/mnist.npz" in names


@pytest.mark.slow  # a venv, a non-editable pip install, a command in it
def test_after_pip_install_digits_predict_reads_a_photo_without_model(tmp_path):
    """docs/shipped_models.md gives this check as commands. The venv sees the system's packages
    (--system-site-packages) so TensorFlow is not downloaded again; digits itself is installed
    into the venv from a copy of the repository, not editable, and run from another folder."""
    source = repo_copy(tmp_path / "repo")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=300)
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "."],
                             cwd=source, capture_output=True, text=True, timeout=1800)
    assert install.returncode == 0, install.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(PHOTO, elsewhere / "photo.jpg")
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import digits; print(digits.__file__)"], cwd=elsewhere,
                           capture_output=True, text=True, timeout=300, check=True)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # not the editable one
    result = subprocess.run([str(venv / "bin" / "digits-predict"), "photo.jpg", "--json",
                             "reading.json"], cwd=elsewhere, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    reading = json.loads((elsewhere / "reading.json").read_text())
    assert reading[0]["digit"] == 4 and reading[0]["error"] is None


def test_the_shipped_number_reader_reads_the_shared_number_photos_as_documented():
    # docs/numbers.md, README: all 12 (33528's first 3 cut by the frame too, since the reader was
    # fine-tuned on cut photos).
    # A change to the line the reader sees (mnist_style.to_line) that the shipped model was not
    # trained on shows here first.
    model = model_files.load(model_files.default_model_path("number"))
    with open(DATA / "numbers" / "labels.csv") as file:
        shared = list(csv.DictReader(file))
    lines = [number_reader.line_of(decode(DATA / "numbers" / row["path"])) for row in shared]
    readings = number_reader.read(model, lines)
    misread = {row["label"]: reading.number for row, reading in zip(shared, readings)
               if reading.number != row["label"]}
    assert not misread, misread
