"""The error that ends a digits-* command with one line and an exit status.

Raised by the commands and by the library code they call when a user's input cannot be used (a
model that cannot be loaded, no model given): digits.cli.run prints it and exits with its status.
Here, below every package, so that any layer may raise it without importing the commands.
"""

from __future__ import annotations

USAGE = 2  # usage or configuration error, an unloadable model, a refused overwrite


class CommandError(Exception):
    """Ends a command with a one-line message on stderr and exit `status`."""

    def __init__(self, message: str, status: int = USAGE):
        super().__init__(message)
        self.status = status
