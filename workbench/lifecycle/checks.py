"""The sandboxed checks the steps run on throwaway copies: the guard of the real tree around
them, and the monitor's install, started ahead from the plan the tests step runs."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

from workbench.integrate import monitor


def guard_verified(store, sid: str, guard: monitor.TreeGuard, after_what: str, check=None):
    """Run `check()` (if any), then verify the real tree is what Workbench wrote; a
    change (seen by the check or after it) is audited and fails the step naming it."""
    try:
        result = check() if check is not None else None
        guard.verify(after_what)
    except monitor.TreeChanged as exc:
        store.audit(sid, "workbench", guard.step, "tree_changed", exc.reason,
                    payload={"root": str(guard.root)})
        raise
    return result


class WorkAhead:
    """The monitor's virtualenv and install, made in the background from the tests step
    on (session id -> Future of monitor.PreparedEnv); taken by the monitor step."""

    def __init__(self, options):
        self.options = options
        self._futures: dict[str, Future] = {}

    def _wanted(self, spec) -> bool:
        return bool(self.options.run_monitor) and spec.template != "bash-cli"

    def start_plan(self, sid: str, plan, spec) -> None:
        """Start the monitor's install from the plan the tests step runs, so it overlaps
        the tests, the apply and the commits (the plan's packaging is final by then)."""
        monitor.discard(self._futures.pop(sid, None))
        if self._wanted(spec):
            self._futures[sid] = monitor.prepare_plan_in_background(
                plan, self.options, dependencies=spec.data.get("dependencies") or [])

    def start(self, sid: str, root: Path, spec) -> None:
        """After the apply: keep an install started from the plan when the tree's packaging
        is what it read; otherwise start one from the tree now."""
        running = self._futures.get(sid)
        if running is not None and getattr(running, "fingerprint", None) == monitor.install_fingerprint(root):
            return
        monitor.discard(self._futures.pop(sid, None))
        if self._wanted(spec):
            self._futures[sid] = monitor.prepare_in_background(
                root, self.options, dependencies=spec.data.get("dependencies") or [])

    def take(self, sid: str):
        """The prepared environment (None: none was started, or it failed to install)."""
        future = self._futures.pop(sid, None)
        if future is None:
            return None
        try:
            return future.result(timeout=self.options.test_timeout + 60)
        except Exception:  # noqa: BLE001 - the monitor installs again and reports what fails
            return None

    def close(self) -> None:
        """Drop what no step took (its temporary files go)."""
        for sid in list(self._futures):
            monitor.discard(self._futures.pop(sid))


def work_ahead(engine) -> WorkAhead:
    """The engine's work ahead, made when a step first needs it."""
    if engine.work_ahead is None:
        engine.work_ahead = WorkAhead(engine.options)
    return engine.work_ahead
