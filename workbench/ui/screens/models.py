"""The models screen (keys present, how to add one) and the model picker."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, OptionList, RadioButton, RadioSet, Static
from textual.widgets.option_list import Option

from workbench.ui.backend import OFFLINE, ModelInfo


def key_text(m: ModelInfo) -> Text:
    if m.name == OFFLINE:
        return Text("built in, no key", style="dim")
    if m.key_status == "not needed":
        return Text("✓ no key needed")
    if m.key_present:
        return Text(f"✓ {m.key_env}")
    return Text(f"✗ {m.key_env or 'key'} not set")


HOW_TO_ADD = """\
Config file: {path}{missing}

To add a model, set its key in the environment and name it in that file:

  export ANTHROPIC_API_KEY=…        (or OPENAI_API_KEY, GEMINI_API_KEY)

  [workbench]
  default_model = "claude"
  [models.claude]
  model = "anthropic/claude-sonnet-4-5"

Keys are read from the environment only: never written to the database,
the audit log, a generated file or a commit."""


def how_to_add(config_path: str) -> str:
    """The help under the models table: where the config file is, and what goes in it."""
    from pathlib import Path

    missing = "" if Path(config_path).is_file() else "  (not created yet)"
    return HOW_TO_ADD.format(path=config_path, missing=missing)


class ModelsScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q", "dismiss_screen", "Close", id="models.close")]

    def __init__(self, models: list[ModelInfo], current: str, notes: list[str] | None = None,
                 config_path: str = "config.toml") -> None:
        super().__init__()
        self.models = models
        self.current = current
        self.notes = notes or []
        self.config_path = config_path

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="models-dialog"):
            yield Label("Models", id="models-title")
            table: DataTable = DataTable(id="models-table", cursor_type="row")
            yield table
            notes = list(self.notes)
            if self.current == OFFLINE:
                notes.append("Running on the offline model: a deterministic drafter that needs no key.")
            # (markup=False: the notes quote config errors, the help shows `[workbench]`)
            yield Static("\n".join(notes), id="models-notes", markup=False)
            yield Static(how_to_add(self.config_path), id="models-help", markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#models-table", DataTable)
        table.add_columns("", "name", "LiteLLM id", "key")
        for m in self.models:
            mark = "▶" if m.name == self.current else ""
            table.add_row(mark, m.name, m.model_id, key_text(m), key=m.name)

    def action_dismiss_screen(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class ModelPick:
    model: str
    step: str | None  # None: the whole session


class ModelPicker(ModalScreen[ModelPick | None]):
    """Choose a model for the session, or for one step only."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker.cancel")]

    def __init__(self, models: list[ModelInfo], current: str, step: str | None) -> None:
        super().__init__()
        self.models = models
        self.current = current
        self.step = step

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-dialog"):
            yield Label(f"Switch model (now: {self.current})", id="picker-title")
            with RadioSet(id="picker-scope"):
                yield RadioButton("for the whole session", value=True, id="scope-session")
                if self.step:
                    yield RadioButton(f"for the step '{self.step}' only", id="scope-step")
            options = []
            for m in self.models:
                prompt = Text.assemble((m.name, "bold"), f"  {m.model_id}  ", key_text(m))
                options.append(Option(prompt, id=m.name, disabled=not m.usable))
            yield OptionList(*options, id="picker-models")
            yield Static("Enter to switch · Esc to cancel · disabled models have no key (F3 ▸ models)",
                         id="picker-help")

    def on_mount(self) -> None:
        ol = self.query_one("#picker-models", OptionList)
        try:
            ol.highlighted = ol.get_option_index(self.current)
        except Exception:  # noqa: BLE001 - current model not in the list
            pass
        ol.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        scope = self.query_one("#picker-scope", RadioSet)
        step_only = scope.pressed_button is not None and scope.pressed_button.id == "scope-step"
        self.dismiss(ModelPick(str(event.option.id), self.step if step_only else None))

    def action_cancel(self) -> None:
        self.dismiss(None)
