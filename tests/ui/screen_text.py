"""The screen as plain text, for assertions about what a person would read."""

from __future__ import annotations

import io

from rich.console import Console
from textual.app import App


def screen_text(app: App) -> str:
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system=None, record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return console.export_text()


def svg_text(svg: str) -> str:
    """The text a snapshot SVG shows, row by row, each run at its column (rich places
    text at x = column * 12.2): a readable diff against `screen_text` when one differs."""
    import html
    import re

    rows: dict[float, dict[int, str]] = {}
    for attrs, text in re.findall(r'<text([^>]*)>(.*?)</text>', svg, re.S):
        x, y = re.search(r'\bx="([\d.]+)"', attrs), re.search(r'\by="([\d.]+)"', attrs)
        if "terminal-title" in attrs or not x or not y:
            continue
        text = html.unescape(re.sub(r"<[^>]+>", "", text)).replace("\xa0", " ")
        rows.setdefault(float(y.group(1)), {})[round(float(x.group(1)) / 12.2)] = text
    lines = []
    for _, runs in sorted(rows.items()):
        line = ""
        for column, text in sorted(runs.items()):
            line = line.ljust(column) + text
        lines.append(line.rstrip())
    return "\n".join(lines)
