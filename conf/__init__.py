# Makes conf/ importable as the package `digits.conf` (see pyproject.toml), so Hydra finds the
# configs in any install, editable or not.
