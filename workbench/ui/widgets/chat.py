"""Agent chat: the request goes in; agent turns stream in as Markdown.

A turn's reply can run to tens of thousands of tokens, so its cost on screen must not
grow with its length. Textual's Markdown widget lays out one widget per block (four per
list item), and every frame re-arranges them all: a 400-block reply cost about 250 ms
a frame. Here a turn is a few `Static` widgets holding Rich Markdown instead: the blocks
that are finished are sealed into segments, each rendered once and cached, and only the
live tail (the block being written and those after the last seal) is parsed again when
text arrives. The cost of a frame stays that of the tail, about a screenful.
"""

from __future__ import annotations

from typing import ClassVar

from markdown_it import MarkdownIt
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import Heading, Markdown
from rich.segment import Segment
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Static

# The live tail hands its finished blocks to a sealed segment past this size. Each seal
# mounts a widget (and merges, removing one or more): a relayout of the screen. At 600
# a 20,000-token stream sealed 100 times and ran at 1.35x the bare LiteLLM loop; at
# 1,500, 1.24x, while parsing the longer tail again costs about a millisecond a frame.
SEAL_CHARS = 1500


class _Heading(Heading):
    """Headings flush left, as everything else in the chat log (Rich centres h1)."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        text = self.text.copy()
        text.justify = "left"
        yield text


class ChatMarkdown(Markdown):
    elements: ClassVar[dict] = {**Markdown.elements, "heading_open": _Heading}

    def __init__(self, text: str, dark: bool = True) -> None:
        super().__init__(text, code_theme="ansi_dark" if dark else "ansi_light",
                         inline_code_theme="ansi_dark" if dark else "ansi_light")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """As Rich renders it, less the blank line Rich puts before a leading list."""
        started = False
        for segment in super().__rich_console__(console, options):
            if not started and isinstance(segment, Segment) and segment.text == "\n":
                continue
            started = True
            yield segment


class SealedMarkdown:
    """Finished Markdown segments as one renderable: rendered once per width, and merged
    with its neighbour by joining the rendered lines, without rendering again.

    Segments are separated by the blank line Markdown puts between blocks."""

    def __init__(self, sources: list[str], dark: bool = True,
                 lines: dict[int, list[list[Segment]]] | None = None) -> None:
        self.sources = sources
        self.dark = dark
        self._lines = lines or {}  # width -> rendered lines

    def render_lines(self, console: Console, options: ConsoleOptions, width: int) -> list[list[Segment]]:
        lines = self._lines.get(width)
        if lines is None:
            lines = []
            opts = options.update(width=width, height=None)
            for i, source in enumerate(self.sources):
                if i:
                    lines.append([])
                lines += console.render_lines(ChatMarkdown(source, self.dark), opts, pad=False)
            self._lines = {width: lines}  # one width at a time: the pane's
        return lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.render_lines(console, options, options.max_width):
            yield from line
            yield Segment.line()

    def merged(self, other: SealedMarkdown) -> SealedMarkdown:
        lines = {w: [*a, [], *other._lines[w]] for w, a in self._lines.items() if w in other._lines}
        return SealedMarkdown(self.sources + other.sources, self.dark, lines)


def _parser() -> MarkdownIt:
    return MarkdownIt().enable("strikethrough").enable("table")  # as Rich's Markdown parses


def normalise(text: str) -> str:
    """Line ends as Markdown reads them, so line numbers agree with the parser's."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_finished(text: str) -> tuple[str, str]:
    """(the finished blocks, the last block and anything after it).

    A top-level block is finished once the next one has begun: later text cannot change
    it (Textual's MarkdownStream relies on the same property). Lists, tables and code
    fences are single top-level blocks, so they are never cut.
    """
    start = 0
    for token in reversed(_parser().parse(text)):
        if token.level == 0 and token.map is not None:
            start = token.map[0]
            break
    if start <= 0:
        return "", text
    lines = text.split("\n")
    return "\n".join(lines[:start]), "\n".join(lines[start:])


class Sealed(Static):
    """A run of finished segments of a turn (see ChatTurn)."""

    def __init__(self, markdown: SealedMarkdown) -> None:
        super().__init__(markdown, classes="turn-body turn-sealed")
        self.markdown = markdown


class ChatTurn(Vertical):
    """One turn: a label (role and model) over its Markdown, in sealed segments plus a
    live tail."""

    def __init__(self, role: str, model: str = "", text: str = "", kind: str = "agent") -> None:
        super().__init__(classes=f"turn -{kind}")
        self.role = role
        self.model = model
        self.kind = kind
        self.text = text
        self._tail = normalise(text)
        self.sealed: list[str] = []  # the Markdown of the sealed segments, in order
        # sealed widgets, merged like a binary counter: a reply of n segments takes about
        # log2(n) widgets, so the screen's layout cost does not grow with the reply
        self._levels: list[int] = []
        self._next_seal = len(self._tail) + SEAL_CHARS
        self.finished = kind != "agent"

    def compose(self) -> ComposeResult:
        label = self.role + (f" · {self.model}" if self.model else "")
        yield Label(label, classes="turn-label")
        yield Static(self._render_md(self._tail), classes="turn-body turn-tail")

    def _dark(self) -> bool:
        try:
            return self.app.current_theme.dark
        except Exception:  # noqa: BLE001 - not mounted yet: the default theme is dark
            return True

    def _render_md(self, text: str) -> ChatMarkdown | Text:
        return ChatMarkdown(text, self._dark()) if text.strip() else Text("")

    @property
    def tail_text(self) -> str:
        """The Markdown of the live tail: what the next frame parses again."""
        return self._tail

    @property
    def tail(self) -> Static:
        return self.query_one(".turn-tail", Static)

    @property
    def segments(self) -> list[Static]:
        """The turn's Markdown widgets in order, the live tail last."""
        return list(self.query(".turn-body").results(Static))

    async def write(self, fragment: str) -> None:
        if not fragment or self.finished:
            return
        self.text += fragment
        self._tail += normalise(fragment)
        if len(self._tail) >= self._next_seal:
            done, rest = split_finished(self._tail)
            if done.strip():
                await self._seal(done)
                self._tail = rest
            self._next_seal = len(self._tail) + SEAL_CHARS
        self.tail.update(self._render_md(self._tail))

    async def _seal(self, done: str) -> None:
        self.sealed.append(done)
        widgets = list(self.query(Sealed).results(Sealed))
        content = SealedMarkdown([done], self._dark())
        width = self.tail.content_region.width
        if width > 0:  # render it now, at the pane's width, so merging joins lines
            content.render_lines(self.app.console, self.app.console_options, width)
        level = 0
        while widgets and self._levels and self._levels[-1] == level:  # two equal halves
            last = widgets.pop()
            self._levels.pop()
            content = last.markdown.merged(content)
            await last.remove()
            level += 1
        await self.mount(Sealed(content), before=self.tail)
        self._levels.append(level)

    async def finish(self, note: str = "") -> None:
        self.finished = True
        if note:
            self.add_class("-cancelled" if "cancel" in note else "-noted")
            await self.mount(Label(note, classes="turn-note"))


class ChatPane(Vertical):
    """The chat log over a status line (what is true of the open session, redrawn from
    its view) and the input: a request, or a change to the open session's spec."""

    ALLOW_MAXIMIZE = True

    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, initial: list[tuple[str, str, str]] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.initial = initial or []  # (role, text, kind) turns shown from the first frame

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="chat-log"):
            for role, text, kind in self.initial:
                yield ChatTurn(role, text=text, kind=kind)
        yield Static("", id="chat-status")
        yield Input(placeholder="Describe the tool you want, then Enter…", id="chat-input")

    def on_mount(self) -> None:
        # (not anchored yet: the welcome opens at its top, instruction in view; the first
        # turn added anchors the log to its end)
        self.query_one("#chat-status").display = False

    def set_status(self, text: str) -> None:
        """The session's status line ("" hides it); the input's hint follows the session."""
        status = self.query_one("#chat-status", Static)
        status.display = bool(text)
        status.update(Text(text, no_wrap=True, overflow="ellipsis"))
        self.input.placeholder = ("Ask for a change to the spec, then Enter…" if text
                                  else "Describe the tool you want, then Enter…")

    @property
    def log_view(self) -> VerticalScroll:
        return self.query_one("#chat-log", VerticalScroll)

    @property
    def input(self) -> Input:
        return self.query_one("#chat-input", Input)

    @property
    def turns(self) -> list[ChatTurn]:
        return list(self.log_view.query(ChatTurn))

    async def add_turn(self, role: str, model: str = "", text: str = "", kind: str = "agent") -> ChatTurn:
        turn = ChatTurn(role, model, text, kind)
        await self.log_view.mount(turn)
        self.log_view.anchor()
        return turn

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            return
        self.post_message(self.Submitted(text))  # the app clears the input once it accepts it
