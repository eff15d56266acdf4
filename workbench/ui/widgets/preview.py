"""Scaffold preview: the in-memory plan as a file tree; a file, or its diff against disk."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.lazy import Lazy
from textual.reactive import reactive
from textual.widgets import Label, Static, Tree

from workbench.lifecycle.steps import INTEGRATION_FILE_STEPS

MAX_PREVIEW_CHARS = 200_000
LATER_STEPS = INTEGRATION_FILE_STEPS  # written and committed by the integrate steps
LEXERS = {
    ".py": "python", ".toml": "toml", ".md": "markdown", ".yml": "yaml", ".yaml": "yaml",
    ".json": "json", ".sh": "bash", ".bats": "bash", ".cfg": "ini", ".ini": "ini",
    ".txt": "text", ".gitignore": "text",
}


def lexer_for(path: str) -> str:
    p = Path(path)
    if p.name == "Dockerfile":
        return "docker"
    if p.name == "Makefile":
        return "make"
    return LEXERS.get(p.suffix, "text")


def plan_files(plan: Any) -> dict[str, Any]:
    files = getattr(plan, "files", None)
    if files is None and isinstance(plan, dict):
        files = plan
    return dict(files or {})


def file_content(pf: Any) -> str:
    return pf if isinstance(pf, str) else str(getattr(pf, "content", ""))


def disk_diff(path: str, content: str, root: Path | None) -> str:
    """Unified diff of what is on disk against the planned content."""
    old = ""
    if root is not None:
        target = root / path
        try:
            old = target.read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError):
            old = ""
        except (OSError, UnicodeDecodeError) as exc:
            return f"# cannot read {target}: {exc}\n"
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            content.splitlines(keepends=True),
            fromfile=f"disk/{path}" if old else "/dev/null",
            tofile=f"plan/{path}",
        )
    )


class PreviewPane(Horizontal):
    ALLOW_MAXIMIZE = True
    BINDINGS = [
        Binding("f4", "toggle_diff", "Diff", id="preview.diff"),
    ]

    show_diff: reactive[bool] = reactive(False)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.files: dict[str, Any] = {}
        self.root: Path | None = None
        self.selected: str | None = None
        self.applied = False  # True once the apply gate has written the plan to disk

    def compose(self) -> ComposeResult:
        tree: Tree[str] = Tree("plan", id="preview-tree")
        tree.show_root = False
        tree.guide_depth = 2
        yield Lazy(tree)  # mounted just after the first frame
        yield VerticalScroll(
            Label("", id="preview-title"),
            Static(Text("No plan yet: it appears after the spec is approved.", style="dim"),
                   id="preview-body"),
            id="preview-file")

    @property
    def tree(self) -> Tree:
        return self.query_one("#preview-tree", Tree)

    def set_plan(self, plan: Any, root: Path | None = None) -> None:
        previous = self.selected
        self.files = plan_files(plan)
        self.root = root
        tree = self.tree
        tree.clear()
        dirs: dict[tuple[str, ...], Any] = {(): tree.root}
        for path in sorted(self.files, key=lambda p: (p.count("/") == 0, p)):
            parts = tuple(path.split("/"))
            for depth in range(1, len(parts)):
                key = parts[:depth]
                if key not in dirs:
                    dirs[key] = dirs[key[:-1]].add(key[-1] + "/", expand=True)
            pf = self.files[path]
            label = Text(parts[-1])
            if getattr(pf, "model_owned", False):
                label.append(" ✎ model", style="italic")
            if getattr(pf, "step", "") in LATER_STEPS:
                label.append(f" ↳{pf.step}", style="dim")
            dirs[parts[:-1]].add_leaf(label, data=path)
        n = len(self.files)
        size = sum(len(file_content(f).encode("utf-8")) for f in self.files.values())
        where = "applied to disk" if self.applied else "not on disk"
        self.border_subtitle = f"{n} files · {size:,} bytes · {where}"
        if previous in self.files:
            self.show_file(previous)
        elif self.files:
            self.show_file(sorted(self.files)[0])

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        if event.node.data:
            self.show_file(event.node.data)

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        if event.node.data:
            self.show_file(event.node.data)

    def show_file(self, path: str) -> None:
        self.selected = path
        self._render_file()

    def _render_file(self) -> None:
        from rich.syntax import Syntax

        path = self.selected
        title = self.query_one("#preview-title", Label)
        body = self.query_one("#preview-body", Static)
        if path is None or path not in self.files:
            return
        pf = self.files[path]
        content = file_content(pf)[:MAX_PREVIEW_CHARS]
        owner = "model-owned" if getattr(pf, "model_owned", False) else "template"
        origin = getattr(pf, "origin", "") or ""
        step = getattr(pf, "step", "") or ""
        mode = ("diff vs disk  ", "bold reverse") if self.show_diff else ""
        title.update(Text.assemble(mode, (path, "bold"), f"  {owner}", f" · {step}" if step else "",
                                   f" · {origin}" if origin and origin not in (owner, "template") else ""))
        if self.show_diff:
            diff = disk_diff(path, content, self.root)
            body.update(Syntax(diff, "diff", theme="ansi_dark", background_color="default")
                        if diff else Text("Identical to the file on disk.", style="dim"))
        else:
            body.update(Syntax(content, lexer_for(path), theme="ansi_dark", line_numbers=True,
                               background_color="default", word_wrap=False))

    def action_toggle_diff(self) -> None:
        self.show_diff = not self.show_diff

    def watch_show_diff(self) -> None:
        self._render_file()
