"""`workbench serve`: the same TUI in a browser, through textual-serve.

Each browser tab runs its own `python -m workbench` process. In a GitHub Codespace
the forwarded port's public address is worked out from the environment, so the
page's websocket connects back through the forwarded port.
"""

from __future__ import annotations

import os
import shlex
import sys


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


def command() -> str:
    """The command each browser session runs: this Python, this package, the TUI."""
    return f"{shlex.quote(sys.executable)} -m workbench"


def serve(host: str = "127.0.0.1", port: int = 8000) -> int:
    from textual_serve.server import Server

    url = public_url(host, port)
    server = Server(command(), host=host, port=port, title="Workbench", public_url=url)
    print(f"Serving the Workbench TUI at {url or f'http://{host}:{port}'} (Ctrl+C to stop)",
          file=sys.stderr)
    server.serve()
    return 0
