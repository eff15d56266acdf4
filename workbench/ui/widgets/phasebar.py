"""The phase bar: the stepper collapsed to one line (three phases, a glyph per step), the
step in hand, and what the session's model calls took. A click (or ctrl+t) opens the steps."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import Static

from workbench.lifecycle.steps import PENDING, PHASES, RUNNING, STEPS, WAITING, steps_in
from workbench.ui.widgets.stepper import GLYPH, STATE_LABEL, resolve_style


def format_usage(tokens: int, cost: float | None, model: str = "") -> str:
    """`1.2k tok · $0.004 · gpt-4o` (cost `?` when a price is unknown; "" with no tokens)."""
    if not tokens:
        return ""
    amount = f"{tokens / 1000:.1f}k" if tokens >= 1000 else str(tokens)
    price = "$?" if cost is None else f"${cost:.4f}" if cost < 0.01 else f"${cost:.2f}"
    return f"{amount} tok · {price}" + (f" · {model}" if model else "")


class PhaseBar(Static):
    class Clicked(Message):
        """The bar was clicked: show the steps."""

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.states: dict[str, str] = {s.id: PENDING for s in STEPS}
        self.usage = ""

    def show(self, states: dict[str, str], usage: str = "") -> None:
        if states == self.states and usage == self.usage:
            return
        self.states, self.usage = dict(states), usage
        self.update(self._text())

    def on_mount(self) -> None:
        self.update(self._text())

    def _text(self) -> Text:
        variables = dict(self.app.theme_variables)
        text = Text(no_wrap=True, overflow="ellipsis")
        current = next((s for s in STEPS if self.states[s.id] in (RUNNING, WAITING, "failed")), None)
        if current is None:
            current = next((s for s in STEPS if self.states[s.id] == PENDING), None)
        for i, phase in enumerate(PHASES):
            if i:
                text.append("  ")
            here = current is not None and current.phase == phase
            text.append(phase.upper() + " ", style="bold" if here else "dim")
            for step in steps_in(phase):
                glyph, style = GLYPH[self.states[step.id]]
                text.append(glyph, style=resolve_style(style, variables))
        if current is not None:
            text.append(f"  {current.title}: {STATE_LABEL[self.states[current.id]]}", style="bold")
        else:
            text.append("  all steps done", style="bold")
        if self.usage:
            text.append(f"  {self.usage}", style="dim")
        return text

    def on_click(self) -> None:
        self.post_message(self.Clicked())
