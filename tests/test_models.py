import keras
import numpy as np
import pytest

from digits.models import classifiers
from digits.config.models import CnnConfig, MlpConfig


def test_mlp_is_the_articles_network():
    model = classifiers.build(MlpConfig())
    assert model.count_params() == 244_554
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 243_658
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten"] + ["Dense", "BatchNormalization"] * 3 + ["Dense"]
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [256, 128, 64, 10]


def test_mlp_hidden_sizes_are_configurable():
    model = classifiers.build(MlpConfig(hidden_units=[32], batch_norm=False, dropout=0.1))
    assert [type(layer).__name__ for layer in model.layers] == ["Flatten", "Dense", "Dropout",
                                                                "Dense"]
    assert model.count_params() == 784 * 32 + 32 + 32 * 10 + 10


@pytest.mark.parametrize("cfg", [MlpConfig(), CnnConfig(), CnnConfig(filters=[8, 16, 32])])
def test_models_output_probabilities_and_load_in_safe_mode(cfg, tmp_path):
    model = classifiers.build(cfg)
    x = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    probabilities = np.asarray(model(x))
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(x)), probabilities, rtol=1e-5, atol=1e-6)


def test_cnn_blocks_hold_convs_per_block_convolutions():
    def convs(cfg):
        return sum(isinstance(layer, keras.layers.Conv2D) for layer in classifiers.build(cfg).layers)

    assert convs(CnnConfig()) == 4  # the default: two blocks of two, as always
    assert convs(CnnConfig(filters=[16, 32, 64], convs_per_block=1)) == 3
