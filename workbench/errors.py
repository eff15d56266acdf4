"""Errors that end a command with one clear line and a documented exit code.

Exit codes (design.md): 0 done; 1 a step failed; 2 bad usage or bad input;
3 stopped at an approval gate.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_GATE = 3


class WorkbenchError(Exception):
    """An error the user should see as one line, never as a traceback."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class UsageError(WorkbenchError):
    """Bad usage or bad input: exit 2."""

    exit_code = EXIT_USAGE


class StepFailed(WorkbenchError):
    """A lifecycle step failed: exit 1."""

    exit_code = EXIT_FAILED

    def __init__(self, step: str, message: str):
        super().__init__(f"step {step} failed: {message}")
        self.step = step
        self.reason = message


class GateStop(WorkbenchError):
    """Stopped at an approval gate: exit 3."""

    exit_code = EXIT_GATE
