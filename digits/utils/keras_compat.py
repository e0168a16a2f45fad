"""Every place digits relies on Keras internals or works around a Keras bug, in one module.

Checked against KERAS_CHECKED: training calls check_keras_version() first, so another Keras
version stops a run with one line naming the versions, rather than failing later inside a
private API.
tests/test_keras_compat.py has one test per work-around that FAILS once Keras fixes the bug or
changes the internal: then drop the work-around (or re-check it) and move KERAS_CHECKED on.

Imported only by what needs it (training, the input pipeline, distribution), never at start-up of
commands that only load models.
"""

from __future__ import annotations

import math

import keras
from packaging.specifiers import SpecifierSet
from packaging.version import Version

KERAS_CHECKED = ">=3.15,<3.16"  # keep pyproject.toml's keras bound equal to this


class KerasVersionError(RuntimeError):
    """The installed Keras is outside the versions digits' work-arounds were checked with."""


def check_keras_version(version: str | None = None) -> None:
    version = version or keras.__version__
    if Version(version) not in SpecifierSet(KERAS_CHECKED):
        raise KerasVersionError(
            f"digits was checked with keras{KERAS_CHECKED}, not keras {version}: install a "
            f"checked version (pip install 'keras{KERAS_CHECKED}'), or re-check "
            "digits/utils/keras_compat.py with tests/test_keras_compat.py and widen KERAS_CHECKED")



# --- 1. ModelCheckpoint saves a diverged first epoch -------------------------------------------
class FiniteModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that never saves NaN/inf results: Keras compares only the monitored value,
    so with monitor=val_accuracy a first epoch whose loss is NaN is saved as the "best" model.
    Overrides the private ModelCheckpoint._should_save_model(epoch, batch, logs, filepath)."""

    def _should_save_model(self, epoch, batch, logs, filepath):
        values = [(logs or {}).get(key) for key in ("loss", self.monitor)]
        if any(value is not None and not math.isfinite(float(value)) for value in values):
            return False
        return super()._should_save_model(epoch, batch, logs, filepath)


# --- 2. Random draws keyed on (seed, epoch, batch) ---------------------------------------------
def seed_generators(layer: keras.layers.Layer) -> list:
    """The keras.random.SeedGenerator objects a layer draws from, found among its attributes:
    Keras' preprocessing layers keep theirs as `generator`, Dropout and digits' RandomAffine as
    `seed_generator` (neither is public API, hence the search by type)."""
    return [value for value in vars(layer).values()
            if isinstance(value, keras.random.SeedGenerator)]


def model_seed_generators(model: keras.Model) -> list:
    """Every SeedGenerator of a model's layers (e.g. Dropout), nested models included."""
    found = []
    for layer in model.layers:
        found += model_seed_generators(layer) if isinstance(layer, keras.Model) else []
        found += seed_generators(layer)
    return found


def draw_transformation(layer, images):
    """An image augmentation layer's random parameters for one batch (Keras' image preprocessing
    layers and digits' RandomAffine split drawing from applying; the method is not public API)."""
    return layer.get_random_transformation(images, training=True)


def apply_transformation(layer, images, transformation):
    return layer.transform_images(images, transformation, training=True)


# --- 3. fit() under MultiWorkerMirroredStrategy ------------------------------------------------
def fix_multi_worker_fit() -> None:
    """Work around keras-team/keras#20585: Keras 3's fit() fails at once under
    MultiWorkerMirroredStrategy. Two steps reduce values across workers in ways the strategy
    cannot: the first batch (x, y) as one structure, only to learn its shapes, and the per-step
    scalar logs along an axis 0 they do not have. Take this worker's own first batch instead,
    and average the logs as scalars. Only Keras' bookkeeping changes: gradients are still
    all-reduced by the strategy, so every worker holds the same weights."""
    check_keras_version()
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as keras_tf_trainer

    trainer_class = keras_tf_trainer.TensorFlowTrainer
    if getattr(trainer_class, "_digits_multi_worker_fix", False):
        return
    build, reduce = trainer_class._maybe_symbolic_build, keras_tf_trainer.reduce_per_replica

    def local_first_batch(self, iterator=None, data_batch=None):
        if iterator is None or self._distribute_strategy is None:
            return build(self, iterator, data_batch)
        for _, _, batches in iterator:
            batch = next(batches)
            break
        strategy = self.distribute_strategy
        batch = tree.map_structure(
            lambda value: strategy.experimental_local_results(value)[0]
            if isinstance(value, tf.distribute.DistributedValues) else value, batch)
        with strategy.scope():
            self._symbolic_build(data_batch=batch)

    def scalar_mean(values, strategy, reduction):
        if reduction == "auto" and keras_tf_trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None),
                                      values)
        return reduce(values, strategy, reduction)

    trainer_class._maybe_symbolic_build = local_first_batch
    keras_tf_trainer.reduce_per_replica = scalar_mean
    trainer_class._digits_multi_worker_fix = True


# --- 4. steps_per_execution under tf.distribute ------------------------------------------------
def steps_per_execution_works(distributed: bool) -> bool:
    """Keras 3.15's multi-step loop fails under tf.distribute ("You must feed a value for
    placeholder tensor"): digits then runs one step per call."""
    return not distributed
