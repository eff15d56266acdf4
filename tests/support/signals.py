"""Children that take Ctrl-C as they would from a terminal.

A shell without job control starts `cmd &` with SIGINT ignored, and the ignored
disposition is inherited across exec; a Python started that way never installs its
KeyboardInterrupt handler. A test of what Ctrl-C does gives its child the terminal's
default first (`preexec_fn=interruptible`), so it tests the program, not how the suite
was launched."""

from __future__ import annotations

import signal


def interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
