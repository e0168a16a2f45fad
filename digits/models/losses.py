"""The loss of older runs, kept registered so their model files still load in digits.

New runs never save it: with label smoothing they train with Keras' own
``CategoricalCrossentropy(label_smoothing=...)`` on one-hot labels (digits.data.pipeline), so their
model files load in plain Keras. Runs trained before that change name
``digits>SparseSmoothedCrossentropy`` in their compile config; digits.models.model_files imports this module so
``digits-evaluate``, ``digits-predict`` and ``trainer.init_from`` still read them. Do not use it
for anything new, and do not delete it while such run folders may exist.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="digits")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy with label smoothing for integer labels (loading old model files only)."""

    def __init__(self, label_smoothing=0.0, num_classes=10, name="smoothed_crossentropy",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing
        self.num_classes = num_classes

    def call(self, y_true, y_pred):
        one_hot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"),
                                    self.num_classes)
        return keras.losses.categorical_crossentropy(one_hot, y_pred,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing,
                "num_classes": self.num_classes}
