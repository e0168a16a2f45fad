"""digits: configuration-driven experiments on handwritten digits, and reading your own photos."""

from digits.utils import quiet

# TensorFlow's C++ start-up chatter (no CUDA here, CPU instruction sets) buries the run's own
# output; --verbose or DIGITS_VERBOSE=1 brings it back.
quiet.install()
