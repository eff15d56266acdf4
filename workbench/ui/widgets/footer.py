"""The footer, less the keys that would not fit whole."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.widgets import Footer


class FittingFooter(Footer):
    """The footer, less the keys that would not fit whole. (Textual's footer cuts the
    last key short: at 80 columns, with the spec editor's F4 in front, "f8 Findin".)
    A key's width comes from its text, so the keys are fitted as they are composed,
    before the first frame shows them, and again on a resize.

    Recomposes (one per change of focus or bindings) run one at a time: two that overlap
    can leave both sets of keys mounted, the older first, so that a stale footer shows
    and the current one is pushed off the edge."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recompose_lock = asyncio.Lock()

    async def recompose(self) -> None:
        async with self._recompose_lock:
            await super().recompose()

    def compose(self) -> ComposeResult:
        fit = self._fitter()
        for widget in super().compose():
            if type(widget).__name__ == "FooterKey":
                widget.display = fit(widget)
            yield widget

    def on_resize(self) -> None:
        fit = self._fitter()
        for key in self.query("FooterKey"):
            show = fit(key)
            if key.display != show:
                key.display = show

    def _fitter(self) -> Any:
        width = self.size.width or self.app.size.width
        used, cut = 0, False

        def fit(key: Any) -> bool:
            nonlocal used, cut
            if key.has_class("-command-palette"):  # (docked right, not in the row)
                return True
            text = key.key_display + (f" {key.description}" if key.description else "")
            need = cell_len(text) + (0 if self.compact else 3)
            cut = cut or used + need > width
            used += need + (1 if self.compact else 0)  # the compact footer's margin-right
            return not cut

        return fit
