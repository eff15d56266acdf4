"""`workbench serve`: the same TUI in a browser, through textual-serve.

Each browser tab runs its own `python -m workbench` process. In a GitHub Codespace
the forwarded port's public address is worked out from the environment, so the
page's websocket connects back through the forwarded port.

No app process outlives its browser tab or the server:
- each one is started directly (no shell between), and on Linux dies with the
  server (PR_SET_PDEATHSIG), even when the server itself is killed;
- when its websocket closes (the tab went away, also before the first byte), it is
  asked to quit, then terminated, then killed, a few seconds apart;
- on SIGTERM or Ctrl+C, the server closes every websocket and stops every app the
  same way before it exits (a client that holds its connection open and silent
  cannot keep it waiting: the shutdown is bounded).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
from typing import Any

QUIT_GRACE = 3.0  # seconds an app has to quit when asked, before SIGTERM
TERM_GRACE = 2.0  # seconds after SIGTERM, before SIGKILL
SHUTDOWN_TIMEOUT = 5.0  # seconds the server waits for open requests when it stops
HEARTBEAT = 15.0  # websocket ping interval: a client that stops answering is closed


def public_url(host: str, port: int, env: dict[str, str] | None = None) -> str | None:
    """The address a browser reaches the server at (a Codespace's forwarded port)."""
    env = dict(os.environ) if env is None else env
    explicit = env.get("WORKBENCH_PUBLIC_URL")
    if explicit:
        return explicit.rstrip("/")
    name = env.get("CODESPACE_NAME")
    domain = env.get("GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN")
    if name and domain:
        return f"https://{name}-{port}.{domain}"
    return None


def argv() -> list[str]:
    """The command each browser session runs: this Python, this package, the TUI."""
    return [sys.executable, "-m", "workbench"]


def command() -> str:
    return shlex.join(argv())


def _die_with_parent(parent: int) -> Any:
    """A preexec_fn: the child gets SIGTERM when the server dies (Linux; elsewhere the
    server's own shutdown is what stops it)."""

    def preexec() -> None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:  # the server died before prctl took hold
            os._exit(1)

    return preexec


async def stop_process(process: Any, quit_grace: float = QUIT_GRACE,
                       term_grace: float = TERM_GRACE) -> None:
    """Wait up to `quit_grace` for `process` to end by itself (it was asked to quit),
    then SIGTERM it, then SIGKILL it. Returns once it is reaped."""
    for sig, grace in ((None, quit_grace), (signal.SIGTERM, term_grace), (signal.SIGKILL, None)):
        if process.returncode is not None:
            return
        if sig is not None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
        try:
            await asyncio.wait_for(process.wait(), grace)
            return
        except TimeoutError:
            continue


def make_server(host: str = "127.0.0.1", port: int = 8000, url: str | None = None) -> Any:
    """A textual-serve Server whose app processes cannot outlive their client or it."""
    from aiohttp import web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server, log, to_int

    class WorkbenchAppService(AppService):
        async def _open_app_process(self, width: int = 80, height: int = 24) -> Any:
            self._process = process = await asyncio.create_subprocess_exec(
                *argv(), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=self._build_environment(width, height),
                preexec_fn=_die_with_parent(os.getpid()))
            assert process.stdin is not None
            self._stdin = process.stdin
            return process

        async def stop(self) -> None:
            """Ask the app to quit; if it does not, terminate it, then kill it."""
            process = self._process
            if self._task is not None:
                with contextlib.suppress(Exception):
                    await self._download_manager.cancel_app_downloads(
                        app_service_id=self.app_service_id)
                with contextlib.suppress(Exception):
                    await self.send_meta({"type": "quit"})
            if process is not None:
                await stop_process(process)
            task, self._task = self._task, None
            if task is not None:
                try:
                    await asyncio.wait_for(task, TERM_GRACE)
                except (TimeoutError, asyncio.CancelledError, Exception):  # noqa: BLE001
                    task.cancel()

    class WorkbenchServer(Server):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.services: set[WorkbenchAppService] = set()
            self.sockets: set[web.WebSocketResponse] = set()

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            websocket = web.WebSocketResponse(heartbeat=HEARTBEAT)
            width = to_int(request.query.get("width", "80"), 80)
            height = to_int(request.query.get("height", "24"), 24)
            service: WorkbenchAppService | None = None
            self.sockets.add(websocket)
            try:
                await websocket.prepare(request)
                service = WorkbenchAppService(
                    self.command, write_bytes=websocket.send_bytes,
                    write_str=websocket.send_str, close=websocket.close,
                    download_manager=self.download_manager, debug=self.debug)
                self.services.add(service)
                await service.start(width, height)
                await self._process_messages(websocket, service)
            except asyncio.CancelledError:
                pass
            except Exception as error:  # noqa: BLE001 - one client's failure, logged
                log.exception(error)
            finally:
                self.sockets.discard(websocket)
                if service is not None:
                    # (shielded: a cancelled handler still stops its app)
                    await asyncio.shield(self._stop(service))
                with contextlib.suppress(Exception):
                    await websocket.close()
            return websocket

        async def _stop(self, service: WorkbenchAppService) -> None:
            try:
                await service.stop()
            finally:
                self.services.discard(service)

        async def on_shutdown(self, app: web.Application) -> None:
            """SIGTERM / Ctrl+C: every app stops, every websocket closes, then we exit."""
            await asyncio.gather(*(self._stop(s) for s in list(self.services)),
                                 return_exceptions=True)
            for ws in list(self.sockets):
                with contextlib.suppress(Exception):
                    await ws.close()

        def serve(self, debug: bool = False) -> None:
            self.debug = debug
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, self.request_exit)
            try:
                web.run_app(self._make_app(), host=self.host, port=self.port,
                            handle_signals=False, loop=loop, print=lambda *args: None,
                            shutdown_timeout=SHUTDOWN_TIMEOUT)
            finally:
                # whatever is left (a shutdown cut short): killed, never orphaned
                for service in list(self.services):
                    process = service._process
                    if process is not None and process.returncode is None:
                        with contextlib.suppress(ProcessLookupError):
                            process.kill()

    return WorkbenchServer(command(), host=host, port=port, title="Workbench", public_url=url)


def serve(host: str = "127.0.0.1", port: int = 8000) -> int:
    url = public_url(host, port)
    server = make_server(host, port, url)
    print(f"Serving the Workbench TUI at {url or f'http://{host}:{port}'} (Ctrl+C to stop)",
          file=sys.stderr)
    server.serve()
    return 0
