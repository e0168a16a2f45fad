"""A quiet start: TensorFlow's C++ start-up log stays out of digits' output unless asked for.

TensorFlow 2.21 logs through absl before anything calls absl::InitializeLog(), and such messages go
straight to file descriptor 2 whatever TF_CPP_MIN_LOG_LEVEL says (oneDNN, "Could not find cuda
drivers", CPU instructions, "failed call to cuInit"). So the import of tensorflow and its device
discovery run with descriptor 2 sent to /dev/null, and so do the few later C++ steps that talk the
same way (the TFLite converter, SavedModel export).
`--verbose` on a command, or DIGITS_VERBOSE=1 in the environment, keeps every line.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import sys

VERBOSE_VARIABLE = "DIGITS_VERBOSE"


def verbose() -> bool:
    """Asked for TensorFlow's own log: DIGITS_VERBOSE=1 (set by --verbose too)."""
    return os.environ.get(VERBOSE_VARIABLE, "") not in ("", "0")


@contextlib.contextmanager
def cpp_log_silenced(stdout: bool = False):
    """File descriptor 2 (and 1 with `stdout`) goes to /dev/null inside the block: C++ writes
    there past Python's sys.stderr. Python's own errors are raised as usual and printed after."""
    if verbose():
        yield
        return
    descriptors = (1, 2) if stdout else (2,)
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    try:
        saved = {fd: os.dup(fd) for fd in descriptors}
    except OSError:  # a closed descriptor (a daemon): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            for fd in descriptors:
                os.dup2(devnull.fileno(), fd)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)


class _SilencedLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        with cpp_log_silenced():
            self.loader.exec_module(module)
            # Finding the devices logs a failed cuInit on machines without a GPU; done here, in
            # silence, it is not done again. (It does not start the runtime: logical devices and
            # collectives can still be configured after it.)
            module.config.list_physical_devices()


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds tensorflow as usual, once, and imports it with the C++ log silenced."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _SilencedLoader(spec.loader)
        return spec


def is_digits_command() -> bool:
    """A digits-* script, or `python -m digits.X` (argv[0] is "-m" while the module is found):
    another program's --verbose (pytest's) is not ours."""
    return os.path.basename(sys.argv[0]).startswith("digits-") or sys.argv[0] == "-m"


def install() -> None:
    """Before tensorflow is imported: quiet C++ levels, and a silenced import of tensorflow."""
    if "--verbose" in sys.argv[1:] and is_digits_command():  # must act before imports do
        os.environ[VERBOSE_VARIABLE] = "1"
    if verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules and not any(
            isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())
