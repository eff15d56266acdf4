"""Agent chat: the request goes in; agent turns stream in as Markdown."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Markdown
from textual.widgets.markdown import MarkdownStream


class ChatTurn(Vertical):
    """One turn: a label (role and model) over a Markdown body that can stream."""

    def __init__(self, role: str, model: str = "", text: str = "", kind: str = "agent") -> None:
        super().__init__(classes=f"turn -{kind}")
        self.role = role
        self.model = model
        self.kind = kind
        self._initial = text
        self._stream: MarkdownStream | None = None
        self.text = text
        self.finished = kind != "agent"

    def compose(self) -> ComposeResult:
        label = self.role + (f" · {self.model}" if self.model else "")
        yield Label(label, classes="turn-label")
        yield Markdown(self._initial, classes="turn-body")

    @property
    def body(self) -> Markdown:
        return self.query_one(".turn-body", Markdown)

    async def write(self, fragment: str) -> None:
        if not fragment or self.finished:
            return
        self.text += fragment
        if self._stream is None:
            self._stream = Markdown.get_stream(self.body)
        await self._stream.write(fragment)

    async def finish(self, note: str = "") -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self.finished = True
        if note:
            self.add_class("-cancelled" if "cancel" in note else "-noted")
            await self.mount(Label(note, classes="turn-note"))


class ChatPane(Vertical):
    """The chat log over the request input."""

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
        yield Input(placeholder="Describe the tool you want, then Enter…", id="chat-input")

    def on_mount(self) -> None:
        self.log_view.anchor()

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
