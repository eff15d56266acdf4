"""The spec editor: Markdown highlighting, validation as you type, diff, autosave."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.document._wrapped_document import WrappedDocument
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Static, TextArea

if TYPE_CHECKING:
    from workbench.spec import SpecError

HIGHLIGHT_MAX_LINES = 2000  # above this, syntax highlighting is off: every key stays in a frame
VALIDATE_DELAY = 0.25  # seconds of quiet typing before validating
SAVE_DELAY = 0.3  # seconds of quiet typing before autosaving
ERROR_STYLE = "wb.error"


def has_tree_sitter() -> bool:
    try:
        from textual._tree_sitter import get_language

        return get_language("markdown") is not None
    except Exception:  # noqa: BLE001 - highlighting is optional
        return False


def check_spec(text: str, templates: list[str] | None) -> list[SpecError]:
    """Every error in the spec text (a parse error is the only one when it cannot parse)."""
    from workbench.spec import SpecError, parse_spec, validation_errors  # YAML: off the first frame

    try:
        spec = parse_spec(text)
    except SpecError as err:
        return [err]
    return validation_errors(spec, templates)


def spec_diff(draft: str, text: str) -> str:
    lines = difflib.unified_diff(
        draft.splitlines(keepends=True),
        text.splitlines(keepends=True),
        fromfile="draft (model)",
        tofile="spec.md (yours)",
    )
    return "".join(lines)


class CachedHeightWrappedDocument(WrappedDocument):
    """Textual sums every line's wrap offsets for `height`, once per painted line: on a
    5,000-line spec that alone takes longer than a frame. Cache it between rewraps."""

    _height: int | None = None

    def wrap(self, width: int, tab_width: int | None = None) -> None:
        self._height = None
        super().wrap(width, tab_width)

    def wrap_range(self, *args, **kwargs) -> None:
        self._height = None
        super().wrap_range(*args, **kwargs)

    @property
    def height(self) -> int:
        if self._height is None:
            self._height = super().height
        return self._height


class SpecTextArea(TextArea):
    """A TextArea that paints the lines holding validation errors, and stays within a
    frame per keystroke on a large spec (cached sizes, highlighting off above
    HIGHLIGHT_MAX_LINES lines)."""

    COMPONENT_CLASSES = TextArea.COMPONENT_CLASSES | {"spec-text-area--error-line"}
    error_lines: set[int] = set()
    preferred_language: str | None = None
    _width_cache: tuple[int, int] | None = None  # (line count, widest line)

    def _set_document(self, text: str, language: str | None) -> None:
        super()._set_document(text, language)
        self.wrapped_document.__class__ = CachedHeightWrappedDocument
        self._width_cache = None

    def edit(self, edit):
        result = super().edit(edit)
        self.fit_language()
        return result

    def fit_language(self) -> None:
        """Highlight small specs; a very large one is plain text (it stays responsive)."""
        want = self.preferred_language if self.document.line_count <= HIGHLIGHT_MAX_LINES else None
        if self.language != want:
            self.language = want

    def _refresh_size(self) -> None:
        if self.soft_wrap:
            super()._refresh_size()
            return
        # The widest line, recomputed in full only when the line count changes; else the
        # cursor's line can only have grown it. Rounded up, so typing does not relayout.
        doc = self.document
        count = doc.line_count
        cache = self._width_cache
        if cache is None or cache[0] != count:
            widest = doc.get_size(self.indent_width).width
        else:
            row = min(self.cursor_location[0], count - 1)
            line = doc.get_line(row).expandtabs(self.indent_width)
            widest = max(cache[1], len(line))
        self._width_cache = (count, widest)
        need = widest + self.gutter_width + 1
        room = self.scrollable_content_region.width
        # rounded up (typing does not relayout), but no wider than the pane while it fits:
        # no sideways scrollbar on a spec whose lines all show
        width = room if 0 < need <= room else -(-need // 32) * 32
        size = Size(width, count)
        if self.virtual_size != size:
            self.virtual_size = size
        self._refresh_scrollbars()

    def _build_highlight_map(self) -> None:
        super()._build_highlight_map()
        for line in self.error_lines:
            if 0 <= line < self.document.line_count:
                self._highlights[line].append((0, None, ERROR_STYLE))

    def set_error_lines(self, lines: set[int]) -> None:
        if lines == self.error_lines:
            return
        self.error_lines = lines
        theme = self._theme
        if theme is not None and ERROR_STYLE not in theme.syntax_styles:
            theme.syntax_styles[ERROR_STYLE] = self.get_component_rich_style("spec-text-area--error-line")
        self._build_highlight_map()
        self.refresh()


class SpecEditor(Vertical):
    """Editor, error list and diff view of `spec.md`."""

    ALLOW_MAXIMIZE = True

    BINDINGS = [
        Binding("f4", "toggle_diff", "Diff", id="spec.diff"),
    ]

    class SaveRequested(Message):
        """The text changed and is quiet: save it (the app does, in a worker)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Validated(Message):
        def __init__(self, errors: list[SpecError]) -> None:
            super().__init__()
            self.errors = errors

    show_diff: reactive[bool] = reactive(False)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.draft: str = ""  # the model's draft, for the diff
        self.saved: str = ""  # the last text handed to SaveRequested
        self.errors: list[SpecError] = []
        self.templates: list[str] | None = None
        self._validate_timer: Timer | None = None
        self._save_timer: Timer | None = None
        self.validations = 0

    def compose(self) -> ComposeResult:
        language = "markdown" if has_tree_sitter() else None
        with ContentSwitcher(initial="spec-text", id="spec-switcher"):
            editor = SpecTextArea.code_editor(
                "",
                language=language,
                id="spec-text",
                soft_wrap=False,
                tab_behavior="indent",
                theme="css",  # the app's colours: no tint over the text that reads as a selection
            )
            editor.preferred_language = language
            yield editor
            with VerticalScroll(id="spec-diff"):
                yield Static(id="spec-diff-body")
        yield Static("", id="spec-errors")

    @property
    def text_area(self) -> SpecTextArea:
        return self.query_one("#spec-text", SpecTextArea)

    @property
    def text(self) -> str:
        return self.text_area.text

    def on_mount(self) -> None:
        self.text_area.placeholder = "The spec appears here when the agent drafts it."
        self._show_errors()

    # -- loading -----------------------------------------------------------
    def load_draft(self, text: str) -> None:
        """The model's draft arrives: it becomes the text and the base of the diff."""
        self.draft = text
        self.saved = text
        self.text_area.load_text(text)
        self.text_area.fit_language()
        self.validate_now()

    def restore(self, text: str, draft: str) -> None:
        """A reopened session's spec: `text` (saved already), diffed against `draft`."""
        self.draft = draft
        self.saved = text
        self.text_area.load_text(text)
        self.text_area.fit_language()
        self.validate_now()

    def load_revision(self, text: str) -> None:
        """A new version written by the engine (an applied finding): it becomes the text,
        saved already, as one edit (ctrl+z takes it back, and that is saved as an edit).
        The draft stays the base of the diff (F4: what changed since the model's draft).
        The cursor and the scroll stay where they were, as far as they can."""
        ta = self.text_area
        if text == ta.text:
            return
        row, col = ta.cursor_location
        scroll = ta.scroll_offset
        if self._save_timer is not None:
            self._save_timer.stop()
            self._save_timer = None
        self.saved = text
        ta.history.checkpoint()
        ta.replace(text, (0, 0), ta.document.end, maintain_selection_offset=False)
        ta.history.checkpoint()
        last = max(0, ta.document.line_count - 1)
        row = min(row, last)
        ta.move_cursor((row, min(col, len(ta.document.get_line(row)))))
        ta.scroll_to(scroll.x, scroll.y, animate=False, immediate=True)
        self.validate_now()
        if self.show_diff:
            self._update_diff()

    def stream_start(self) -> None:
        self.text_area.load_text("")
        self.text_area.read_only = True

    def stream_write(self, fragment: str) -> None:
        ta = self.text_area
        ta.insert(fragment, ta.document.end, maintain_selection_offset=False)

    # -- changes -----------------------------------------------------------
    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        if self.text_area.read_only:
            return
        if self._validate_timer is not None:
            self._validate_timer.stop()
        self._validate_timer = self.set_timer(VALIDATE_DELAY, self.validate_now)
        if self._save_timer is not None:
            self._save_timer.stop()
        self._save_timer = self.set_timer(SAVE_DELAY, self.flush_save)
        if self.show_diff:
            self._update_diff()

    def flush_save(self) -> None:
        """Hand the current text to the app to save, if it changed."""
        if self._save_timer is not None:
            self._save_timer.stop()
            self._save_timer = None
        text = self.text
        if text != self.saved:
            self.saved = text
            self.post_message(self.SaveRequested(text))

    def validate_now(self) -> None:
        self._validate(self.text, self.templates)

    @work(thread=True, exclusive=True, group="spec-validate")
    def _validate(self, text: str, templates: list[str] | None) -> None:
        errors = check_spec(text, templates) if text.strip() else []
        self.app.call_from_thread(self._set_errors, errors, text)

    def _set_errors(self, errors: list[SpecError], text: str) -> None:
        if text != self.text:
            return  # stale: a newer validation is on its way
        self.validations += 1
        self.errors = errors
        self.text_area.set_error_lines({e.line - 1 for e in errors})
        self._show_errors()
        self.post_message(self.Validated(errors))

    def _show_errors(self) -> None:
        box = self.query_one("#spec-errors", Static)
        if not self.text.strip():
            box.update(Text("No spec yet.", style="dim"))
            box.set_class(False, "-invalid")
            return
        if not self.errors:
            box.update(Text("✓ valid", style="bold"))
            box.set_class(False, "-invalid")
            return
        out = Text()
        for i, err in enumerate(self.errors[:4]):
            if i:
                out.append("\n")
            out.append(f"line {err.line}: ", style="bold")
            if err.field:
                out.append(f"{err.field}: ", style="italic")
            out.append(err.detail)
        if len(self.errors) > 4:
            out.append(f"\n… and {len(self.errors) - 4} more")
        box.update(out)
        box.set_class(True, "-invalid")

    def goto_first_error(self) -> None:
        if self.errors:
            self.text_area.move_cursor((self.errors[0].line - 1, 0))
            self.text_area.focus()

    # -- diff --------------------------------------------------------------
    def action_toggle_diff(self) -> None:
        self.show_diff = not self.show_diff

    def watch_show_diff(self, show: bool) -> None:
        switcher = self.query_one("#spec-switcher", ContentSwitcher)
        if show:
            self._update_diff()
            switcher.current = "spec-diff"
        else:
            switcher.current = "spec-text"

    def _update_diff(self) -> None:
        diff = spec_diff(self.draft, self.text)
        body = self.query_one("#spec-diff-body", Static)
        if not diff:
            body.update(Text("No changes from the model's draft.", style="dim"))
        else:
            from rich.syntax import Syntax

            body.update(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))
