"""One test per Keras work-around in digits/utils/keras_compat.py. Each FAILS when Keras fixes the bug
(or changes the internal) it works around: then drop or re-check the work-around and move
KERAS_CHECKED (and pyproject.toml's keras bound) on."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tomllib
from pathlib import Path

import keras
import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from digits.data import augment
from digits.utils import keras_compat
from digits.training.processes import free_ports
from digits.config.schemas import AugmentationConfig

ROOT = Path(__file__).parent.parent


def test_other_keras_versions_are_refused_in_one_clear_message():
    keras_compat.check_keras_version(keras.__version__)  # the installed one was checked
    with pytest.raises(keras_compat.KerasVersionError,
                       match=r"checked with keras>=3.15,<3.16, not keras 3.16.0: install"):
        keras_compat.check_keras_version("3.16.0")


def test_training_with_another_keras_stops_before_any_work(monkeypatch, tmp_path):
    from helpers import SMOKE, compose_train
    from digits.training import train_digits

    monkeypatch.setattr(keras, "__version__", "3.16.0")
    with pytest.raises(keras_compat.KerasVersionError, match="not keras 3.16.0"):
        train_digits.run_training(compose_train(SMOKE), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_pyproject_bounds_keras_to_the_checked_versions():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    keras_requirement = next(Requirement(d) for d in dependencies if Requirement(d).name == "keras")
    assert keras_requirement.specifier == SpecifierSet(keras_compat.KERAS_CHECKED)


def test_keras_checkpoint_still_saves_a_diverged_epoch_and_ours_does_not(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    diverged = {"loss": math.nan, "val_accuracy": 0.1}
    for kind, name in ((keras.callbacks.ModelCheckpoint, "keras.keras"),
                       (keras_compat.FiniteModelCheckpoint, "ours.keras")):
        callback = kind(str(tmp_path / name), monitor="val_accuracy", mode="max",
                        save_best_only=True)
        callback.set_model(model)
        callback.on_epoch_end(0, diverged)
    assert (tmp_path / "keras.keras").exists()  # the bug: fixed in Keras -> drop the subclass
    assert not (tmp_path / "ours.keras").exists()


@pytest.mark.parametrize("layer", [
    keras.layers.Dropout(0.5),
    keras.layers.RandomInvert(value_range=(0, 1)),
    keras.layers.RandomElasticTransform(value_range=(0, 1)),
    keras.layers.RandomErasing(value_range=(0, 1)),
    augment.RandomAffine(rotation_degrees=10),
], ids=lambda layer: type(layer).__name__)
def test_each_random_layer_draws_from_one_seed_generator_we_can_find(layer):
    """training_batches.reseed keys draws on (seed, epoch, batch) through these generators; a layer
    whose generators cannot be found would silently draw from state again."""
    assert len(keras_compat.seed_generators(layer)) == 1


def test_draw_then_transform_layers_draw_nothing_while_transforming():
    images = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    layers = augment.build(AugmentationConfig(15, 0.1, 0.1, 0.1, 0.5), seed=0).layers
    assert [type(layer) for layer in layers] == list(augment.DRAW_THEN_TRANSFORM)
    for layer in layers:
        transformation = keras_compat.draw_transformation(layer, images)
        state = keras_compat.seed_generators(layer)[0].state.numpy().copy()
        first = keras_compat.apply_transformation(layer, images, transformation)
        second = keras_compat.apply_transformation(layer, images, transformation)
        np.testing.assert_array_equal(np.asarray(first), np.asarray(second))
        np.testing.assert_array_equal(keras_compat.seed_generators(layer)[0].state.numpy(),
                                      state)


def child(script: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, **kwargs)


TWO_CPUS = """
import numpy as np, tensorflow as tf
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
"""


def test_keras_multi_step_execution_still_fails_under_tf_distribute():
    result = child(TWO_CPUS + """
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", steps_per_execution=2)
data = tf.data.Dataset.from_tensor_slices((np.zeros((64, 4), "float32"), np.zeros(64, "int64")))
model.fit(data.batch(8), epochs=1, verbose=0)
""")
    # The bug: fixed in Keras -> keras_compat.steps_per_execution_works can return True.
    assert result.returncode != 0 and "placeholder" in result.stderr
    assert not keras_compat.steps_per_execution_works(distributed=True)


MULTI_WORKER_FIT = """
import json, os, sys
import numpy as np, tensorflow as tf
strategy = tf.distribute.MultiWorkerMirroredStrategy()
import keras
if sys.argv[1] == "patched":
    from digits.utils import keras_compat
    keras_compat.fix_multi_worker_fit()
with strategy.scope():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
data = tf.data.Dataset.from_tensor_slices((np.zeros((64, 4), "float32"), np.zeros(64, "int64")))
model.fit(data.batch(16), epochs=1, verbose=0)
print("FIT OK")
"""


def two_workers_fit(variant: str) -> list[subprocess.CompletedProcess]:
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(subprocess.Popen(
            [sys.executable, "-c", MULTI_WORKER_FIT, variant], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
            env={**__import__("os").environ, "TF_CONFIG": json.dumps(config)}))
    results = []
    for process in processes:
        try:
            out, err = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


@pytest.mark.slow  # four TensorFlow processes on loopback
def test_keras_fit_still_fails_under_multi_worker_and_the_patch_fixes_it():
    unpatched = two_workers_fit("unpatched")
    # The bug (keras-team/keras#20585): fixed in Keras -> drop fix_multi_worker_fit.
    assert all(result.returncode != 0 for result in unpatched), unpatched[0].stdout
    patched = two_workers_fit("patched")
    assert all(r.returncode == 0 and "FIT OK" in r.stdout for r in patched), patched[0].stderr[-2000:]


def test_commands_that_only_load_models_never_import_keras_compat():
    result = child("import sys, digits.models.model_files, digits.data.pipeline, digits.evaluate; "
                   "print('digits.utils.keras_compat' in sys.modules)")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"
