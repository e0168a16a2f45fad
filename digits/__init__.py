"""digits: configuration-driven experiments on handwritten digits, and reading your own photos."""

import os

# TensorFlow's C++ start-up chatter (no CUDA here, CPU instruction sets) buries the run's own
# output; a user who wants it can still set TF_CPP_MIN_LOG_LEVEL=0.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
