"""The lifecycle stepper: three phases, sixteen steps, each with its live status."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from workbench.lifecycle.steps import (
    DONE,
    FAILED,
    PENDING,
    PHASES,
    RUNNING,
    STEPS,
    WAITING,
    steps_in,
)

GLYPH = {
    PENDING: ("○", "dim"),
    RUNNING: ("◐", "bold $warning"),
    WAITING: ("◆", "bold $accent"),
    DONE: ("●", "$success"),
    FAILED: ("✗", "bold $error"),
}
STATE_LABEL = {
    PENDING: "pending",
    RUNNING: "running",
    WAITING: "waiting for approval",
    DONE: "done",
    FAILED: "failed",
}


def resolve_style(style: str, variables: dict[str, str]) -> str:
    """A style with theme variables (`bold $accent`) as Rich reads it."""
    parts = []
    for part in style.split():
        if part.startswith("$"):
            part = variables.get(part[1:], "")
        if part:
            parts.append(part)
    return " ".join(parts)


class Stepper(OptionList):
    """An OptionList whose options are the steps (phases are disabled headings)."""

    ALLOW_MAXIMIZE = True

    BINDINGS = [
        Binding("n", "app.next_step", "Next", show=False, id="stepper.next"),
        Binding("b", "app.step_back", "Back", show=False, id="stepper.back"),
        Binding("r", "app.rerun", "Re-run", show=False, id="stepper.rerun"),
        Binding("a", "app.approve", "Approve", show=False, id="stepper.approve"),
        Binding("m", "app.switch_model", "Model", show=False, id="stepper.model"),
        Binding("f", "app.findings", "Findings", show=False, id="stepper.findings"),
    ]

    class StepSelected(Message):
        def __init__(self, step: str) -> None:
            super().__init__()
            self.step = step

    def __init__(self, **kwargs) -> None:
        self.states: dict[str, str] = {s.id: PENDING for s in STEPS}
        self.overrides: dict[str, str] = {}  # step -> model for one step
        self.usage: dict[str, str] = {}  # step -> "1.2k tok · $0.01 · model"
        super().__init__(*self._options(), **kwargs)

    def _row(self, step_id: str, title: str) -> Text:
        state = self.states[step_id]
        glyph, style = GLYPH[state]
        text = Text()
        text.append(f" {glyph} ", style=self._resolve(style))
        text.append(title, style="bold" if state in (RUNNING, WAITING) else "")
        if step_id in self.overrides:
            text.append(" ⚑", style=self._resolve("$accent"))
        if self.usage.get(step_id):
            text.append(f"  {self.usage[step_id]}", style="dim")
        return text

    _variables: dict[str, str] | None = None

    def _resolve(self, style: str) -> str:
        if "$" not in style:
            return style
        if self._variables is None:
            try:
                self._variables = dict(self.app.theme_variables)
            except Exception:  # noqa: BLE001 - no app yet
                return resolve_style(style, {})
        return resolve_style(style, self._variables)

    def _options(self) -> list[Option]:
        options: list[Option] = []
        for phase in PHASES:
            options.append(Option(Text(phase.upper(), style="bold"), id=f"phase:{phase}", disabled=True))
            for step in steps_in(phase):
                options.append(Option(self._row(step.id, step.title), id=step.id))
        return options

    def on_mount(self) -> None:
        self.highlighted = 1
        self.watch(self.app, "theme", self._theme_changed, init=False)

    def _theme_changed(self) -> None:
        self._variables = None
        self.refresh_rows()

    def refresh_rows(self) -> None:
        for step in STEPS:
            self.replace_option_prompt(step.id, self._row(step.id, step.title))

    def set_state(self, step: str, state: str) -> None:
        if step not in self.states or self.states[step] == state:
            return
        self.states[step] = state
        self.replace_option_prompt(step, self._row(step, _title(step)))

    def set_usage(self, usage: dict[str, str]) -> None:
        if usage == self.usage:
            return
        changed = set(usage) ^ set(self.usage) | {s for s in usage if usage[s] != self.usage.get(s)}
        self.usage = dict(usage)
        for step in changed:
            if step in self.states:
                self.replace_option_prompt(step, self._row(step, _title(step)))

    def reset(self) -> None:
        for step in STEPS:
            self.states[step.id] = PENDING
        self.refresh_rows()

    def set_override(self, step: str, model: str | None) -> None:
        if model is None:
            self.overrides.pop(step, None)
        else:
            self.overrides[step] = model
        self.replace_option_prompt(step, self._row(step, _title(step)))

    @property
    def selected_step(self) -> str | None:
        if self.highlighted is None:
            return None
        option = self.get_option_at_index(self.highlighted)
        return option.id if option.id and not option.id.startswith("phase:") else None

    def select_step(self, step: str) -> None:
        self.highlighted = self.get_option_index(step)

    @property
    def current_step(self) -> str | None:
        """The running or waiting step, else the first pending one."""
        for state in (RUNNING, WAITING, FAILED):
            for step in STEPS:
                if self.states[step.id] == state:
                    return step.id
        for step in STEPS:
            if self.states[step.id] == PENDING:
                return step.id
        return None

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and not event.option.id.startswith("phase:"):
            self.post_message(self.StepSelected(event.option.id))


def _title(step_id: str) -> str:
    for s in STEPS:
        if s.id == step_id:
            return s.title
    return step_id
