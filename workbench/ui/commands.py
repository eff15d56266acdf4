"""The command palette provider: every action of the app, by name."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from workbench.ui.app import WorkbenchApp

ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("Next step", "next_step", "Run the lifecycle on to the next step (at a gate: approve)"),
    ("Step back", "step_back", "Go back to the selected step"),
    ("Re-run step", "rerun", "Re-run the selected step"),
    ("Approve gate", "approve", "Show what is waiting for approval"),
    ("Findings", "findings", "The review's findings: apply or dismiss each one (F8)"),
    ("Switch model", "switch_model", "Choose the model for the session or one step"),
    ("Models", "show_models", "Configured models, their keys, how to add one"),
    ("Open session…", "open_session", "Reopen an earlier session (also: workbench --session ID)"),
    ("Cancel turn", "cancel_turn", "Stop the agent's current turn"),
    ("Toggle diff", "toggle_diff", "Diff the spec against the draft, or a file against disk"),
    ("Go to chat", "show_pane('chat')", "Focus the agent chat"),
    ("Go to spec", "show_pane('spec')", "Focus the spec editor"),
    ("Go to preview", "show_pane('preview')", "Focus the scaffold preview"),
    ("Go to audit log", "show_pane('audit')", "Focus the audit log"),
    ("Next pane", "next_pane", "Cycle the panes (tabs below 120 columns)"),
)


class WorkbenchCommands(Provider):
    """Lifecycle actions and model switching in the command palette."""

    @property
    def wb(self) -> WorkbenchApp:
        return self.app  # type: ignore[return-value]

    def _commands(self) -> list[tuple[str, object, str]]:
        # Findings is called directly, not through run_action: before the review the footer
        # hides F8 (check_action), but the palette still answers with what to do.
        out: list[tuple[str, object, str]] = [
            (name, self.wb.action_findings if action == "findings"
             else partial(self.wb.run_action, action), help_) for name, action, help_ in ACTIONS
        ]
        from workbench.ui.screens.hooks import palette_entries

        out += palette_entries(self.wb)  # dashboard, start screen, versions, rewind, projects, themes
        backend = self.wb.backend
        step = self.wb.selected_step()
        for m in backend.models():
            if not m.usable:
                continue
            out.append((f"Use model {m.name}", partial(self.wb.apply_model, m.name, None),
                        f"{m.model_id} for the whole session"))
            if step:
                out.append((f"Use model {m.name} for step {step}",
                            partial(self.wb.apply_model, m.name, step),
                            f"{m.model_id} for '{step}' only"))
        return out

    async def discover(self) -> Hits:
        for name, callback, help_ in self._commands():
            yield DiscoveryHit(name, callback, help=help_)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_ in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_)
