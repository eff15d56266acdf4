"""The bridge between the engine's thread and the UI thread: the one engine worker and
the event pump.

The engine (through the session service) calls `Bridge.callback` on its own thread. Events
keep their order in one queue; the UI thread drains it at once for a step event and at up
to 20 fps for tokens. What is drained goes to the sink, the main screen, by reference:
a modal screen on top (a gate, the findings) never gets in the way.

`Bridge.call` runs backend calls in the one engine worker (a Textual thread worker, one
at a time). When they end, the session's view is read in that same thread, and the sink
gets it with the result: the screen redraws from the service's view, never from guesses.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from textual.message import Message
from textual.timer import Timer

from workbench.lifecycle import events as ev
from workbench.lifecycle.events import Event

if TYPE_CHECKING:
    from textual.app import App

    from workbench.lifecycle.session import SessionView
    from workbench.ui.backend import Backend

FLUSH_INTERVAL = 1 / 20  # tokens are drawn at up to 20 fps: smooth, with few relayouts
# While a reply streams, drawing it may take at most this share of the UI thread's CPU;
# past it, tokens gather and are drawn together (but at least every MAX_FLUSH_GAP s).
# A fast model then competes less with the gateway's thread for the GIL, and keys
# typed meanwhile stay responsive.
STREAM_CPU_SHARE = 0.15
MAX_FLUSH_GAP = 0.25


class EngineWake(Message):
    """Events are waiting in the bridge's queue."""


class Sink(Protocol):
    """What the bridge hands its events and results to (the main screen)."""

    async def write_tokens(self, step: str | None, text: str) -> None: ...
    async def on_engine_event(self, event: Event) -> None: ...
    async def engine_done(self, label: str, error: Exception | None, view: SessionView | None,
                          result: Any, then: Any, on_error: Any) -> None: ...
    def set_busy(self, what: str) -> None: ...


def flush_due(now: tuple[float, float], last: tuple[float, float]) -> bool:
    """Whether streamed tokens may be drawn now: (wall, UI-thread CPU) now and at the
    last flush. Not while the UI thread has spent more than its share since the last
    flush, unless MAX_FLUSH_GAP has passed."""
    gap = now[0] - last[0]
    return gap >= MAX_FLUSH_GAP or now[1] - last[1] <= STREAM_CPU_SHARE * gap


async def maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value):
        return await value
    return value


class Bridge:
    def __init__(self, app: App, backend: Backend) -> None:
        self.app = app
        self.backend = backend
        self.sink: Sink | None = None
        self.busy = ""  # what the engine worker is doing ("" when idle)
        self.running = False  # an engine call is in progress
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._drain_lock = asyncio.Lock()
        self._flush_timer: Timer | None = None
        self._last_flush = (0.0, 0.0)  # (monotonic, UI-thread CPU) at the last timed flush

    # -- the event pump ------------------------------------------------------
    def callback(self, event: Event) -> None:
        """Called on the engine's thread."""
        with self._lock:
            self._events.append(event)
        if event.kind != ev.TOKEN:
            self.app.post_message(EngineWake())

    def push(self, event: Event) -> None:
        """Queue an event as the engine would, without waking the pump (tests, benchmarks)."""
        with self._lock:
            self._events.append(event)

    async def drain(self) -> None:
        """Hand every queued event to the sink, in order; runs of tokens at once."""
        sink = self.sink
        if sink is None:
            return
        async with self._drain_lock:
            while True:
                with self._lock:
                    events, self._events = self._events, []
                if not events:
                    return
                i = 0
                while i < len(events):
                    event = events[i]
                    if event.kind == ev.TOKEN:
                        parts, step = [], event.step
                        while i < len(events) and events[i].kind == ev.TOKEN and events[i].step == step:
                            parts.append(events[i].message)
                            i += 1
                        await sink.write_tokens(step, "".join(parts))
                        continue
                    await sink.on_engine_event(event)
                    i += 1

    def start_flushing(self) -> None:
        if self._flush_timer is None:
            self._flush_timer = self.app.set_interval(FLUSH_INTERVAL, self._flush_tick)

    def stop_flushing(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None

    async def _flush_tick(self) -> None:
        """The 20 fps timer: draw what has arrived, unless the UI thread has been busy."""
        now = (time.monotonic(), time.thread_time())
        if not flush_due(now, self._last_flush):
            return  # let tokens gather; they are drawn in one go at a later tick
        self._last_flush = now
        await self.drain()

    # -- the engine worker ---------------------------------------------------
    def call(self, label: str, *calls: tuple[Any, ...], then: Callable[[Any], Any] | None = None,
             on_error: Callable[[Exception], Any] | None = None) -> bool:
        """Run `calls` (`(fn, *args)`) in order in the engine worker. When they end, the
        view is read there too, and the sink's `engine_done` gets it with the last call's
        result (or its error). False when the worker is busy and nothing was started."""
        if self.busy:
            self.app.notify(f"Busy: {self.busy}", severity="warning")
            return False
        self.running = True
        self.busy = label
        if self.sink is not None:
            self.sink.set_busy(label)  # (the spinner; the sink keeps `busy` up to date)
        self.start_flushing()
        self.app.run_worker(lambda: self._work(label, calls, then, on_error), thread=True,
                            exclusive=True, group="engine", exit_on_error=False, name=label)
        return True

    def _work(self, label: str, calls: tuple[tuple[Any, ...], ...], then: Any, on_error: Any) -> None:
        error: Exception | None = None
        result: Any = None
        try:
            for fn, *args in calls:
                result = fn(*args)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            error = exc
        try:
            view = self.backend.view()
        except Exception:  # noqa: BLE001 - the screen keeps the view it has
            view = None
        self.app.call_from_thread(self._done, label, error, view, result, then, on_error)

    async def _done(self, label: str, error: Exception | None, view: Any, result: Any, then: Any,
                    on_error: Any) -> None:
        await self.drain()
        self.running = False
        self.stop_flushing()
        if self.sink is not None:
            await self.sink.engine_done(label, error, view, result, then, on_error)

    def read_view(self, then: Callable[[Any], Any]) -> None:
        """Read the view in a thread (after an edit, an event), then `then(view)` on the UI thread."""

        def work() -> None:
            try:
                view = self.backend.view()
            except Exception:  # noqa: BLE001 - the screen keeps the view it has
                return
            self.app.call_from_thread(then, view)

        self.app.run_worker(work, thread=True, group="view", exit_on_error=False)
