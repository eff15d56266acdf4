"""The chat pane's Markdown: a long streamed reply is sealed into segments that look
exactly as the whole reply would, and the work per frame stays bounded."""

from __future__ import annotations

import io
import random

import pytest
from rich.console import Console
from textual.app import App, ComposeResult

from workbench.ui.bridge import MAX_FLUSH_GAP, STREAM_CPU_SHARE, flush_due
from workbench.ui.widgets.chat import (
    SEAL_CHARS,
    ChatMarkdown,
    ChatPane,
    Sealed,
    normalise,
    split_finished,
)

pytestmark = pytest.mark.anyio

REPLY_PARTS = [
    "# Plan for csv2json\r\n\r\nThe tool reads **CSV** and writes `JSON`; it keeps the column order.\n\n",
    "## Commands\n\n- `convert INPUT` reads a file\n- `--out FILE` writes elsewhere\n- `--dry-run` prints only\n\n",
    "1. parse the header\n2. map each row\n3. write the list\n\n",
    "```python\ndef convert(path):\n    rows = read(path)\n\n    return [dict(r) for r in rows]\n```\n\n",
    "| flag | meaning |\n|---|---|\n| `--out` | where to write |\n| `--strict` | fail on a bad row |\n\n",
    "> A quote that runs on,\nlazily, over two lines.\n\n",
    "Setext heading\n---\n\nA closing paragraph with a [link](https://example.com) and *emphasis*.\n\n",
]


def long_reply(repeats: int = 12) -> str:
    return "".join(part.replace("csv2json", f"csv2json {i}") for i in range(repeats) for part in REPLY_PARTS)


def rendered_renderable(renderable, width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return [line.rstrip() for line in console.export_text().splitlines()]


def rendered(markdown: str, width: int = 60) -> list[str]:
    return rendered_renderable(ChatMarkdown(markdown), width)


def test_split_finished_keeps_blocks_whole_and_loses_nothing():
    text = normalise(long_reply(2))
    done, rest = split_finished(text)
    assert done and rest
    assert done + "\n" + rest == text
    assert rest.startswith("Setext heading") or rest.startswith("A closing paragraph")
    # a list, a fence or a table is one block: never cut
    fence = "intro\n\n```\na\n\nb\n```\n"
    done, rest = split_finished(fence)
    assert done.rstrip() == "intro" and rest.startswith("```") and rest.count("```") == 2
    assert split_finished("one paragraph only") == ("", "one paragraph only")
    assert split_finished("") == ("", "")


def test_segments_render_as_the_whole_reply():
    """Cut where a stream would be sealed: the sealed part, the blank line of its margin,
    then the rest render line for line as the whole reply does, at every cut."""
    text = normalise(long_reply(3))
    whole = rendered(text)
    cuts = 0
    for k in range(200, len(text), 97):
        done, rest = split_finished(text[:k])
        if not done.strip():
            continue
        cuts += 1
        assert rendered(done) + [""] + rendered(rest + text[k:]) == whole, f"cut at {k}"
    assert cuts >= 10


class ChatApp(App):
    def compose(self) -> ComposeResult:
        yield ChatPane(id="chat")


async def test_a_long_stream_is_sealed_and_shows_every_character():
    reply = long_reply(30)
    assert len(reply) > 10 * SEAL_CHARS
    app = ChatApp()
    rng = random.Random(7)
    async with app.run_test(size=(80, 30)) as pilot:
        turn = await app.query_one(ChatPane).add_turn("Analyst agent", "m")
        i = 0
        tails = []
        while i < len(reply):
            n = rng.randint(1, 300)
            await turn.write(reply[i:i + n])
            tails.append(len(turn.tail_text))
            i += n
        await pilot.pause()
        assert turn.text == reply
        # nothing lost or doubled between the segments
        assert "\n".join([*turn.sealed, turn.tail_text]) == normalise(reply)
        # sealed segments merge like a binary counter: few widgets however long the reply
        sealed = [w for w in turn.segments if isinstance(w, Sealed)]
        assert len(turn.sealed) >= 8 and len(sealed) == bin(len(turn.sealed)).count("1")
        assert len(turn.segments) == len(sealed) + 1
        # a merged widget shows its lines, joined without rendering again, exactly as
        # rendering its segments' Markdown whole would
        width = turn.segments[0].size.width
        assert any(w.markdown._lines.get(width) for w in sealed)
        assert len(sealed[0].markdown.sources) > len(turn.sealed) // 2
        for w in sealed:
            assert rendered_renderable(w.markdown, width) == rendered("\n".join(w.markdown.sources), width)
        # the part parsed again per frame stays bounded by the seal size plus a block or two
        assert max(tails) < 3 * SEAL_CHARS
        # and the pane shows what rendering the whole reply shows
        pieced: list[str] = []
        for seg in [*turn.sealed, turn.tail_text]:
            pieced += rendered(seg, 60)
            pieced.append("")
        assert pieced[:-1] == rendered(normalise(reply), 60)
        assert sum(s.size.height for s in turn.segments) + len(sealed) == len(
            rendered(normalise(reply), turn.segments[0].size.width))


async def test_a_finished_turn_takes_no_more_text():
    app = ChatApp()
    async with app.run_test(size=(80, 24)) as pilot:
        turn = await app.query_one(ChatPane).add_turn("Analyst agent")
        await turn.write("first")
        await turn.finish("— cancelled (Esc)")
        await turn.write(" second")
        await pilot.pause()
        assert turn.text == "first" and turn.has_class("-cancelled")


def test_flush_governor_limits_the_ui_share_but_never_stalls():
    last = (100.0, 10.0)
    # a quiet UI thread: draw at the timer's pace
    assert flush_due((100.05, 10.001), last)
    # a UI thread that spent more than its share since the last flush: wait
    busy_cpu = 10.0 + STREAM_CPU_SHARE * 0.05 + 0.01
    assert not flush_due((100.05, busy_cpu), last)
    # but never longer than MAX_FLUSH_GAP
    assert flush_due((100.0 + MAX_FLUSH_GAP, 10.0 + MAX_FLUSH_GAP), last)
