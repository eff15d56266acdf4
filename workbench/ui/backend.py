"""The TUI's one door to the core: engine, store, model registry.

This module imports no Textual, so it can be tested and benchmarked alone. The
core's heavy modules (the engine, the store, the scaffold, the gateway) are
imported in `Backend.open()`, which the app calls in a thread worker *after* the
first frame: the first frame never waits for SQLite, Jinja2 or LiteLLM.

Every method here may block; the app calls them from thread workers only.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.errors import WorkbenchError
from workbench.lifecycle.events import Event
from workbench.lifecycle.steps import MODEL_STEPS
from workbench.safety.fs import make_dirs

OFFLINE = "offline"


@dataclass(frozen=True)
class ModelInfo:
    """One model as the UI shows it (a row of `ModelProvider.describe()`)."""

    name: str  # alias, raw LiteLLM id, or "offline"
    model_id: str  # LiteLLM id
    key_env: str  # the variable holding its key ("" when none is needed)
    key_status: str  # "yes" | "no" | "not needed"
    usable: bool
    default: bool = False

    @property
    def key_present(self) -> bool:
        return self.key_status == "yes"


def _make_provider(model: str | None, config_path: Path | None):
    """A `ModelProvider` (cheap: tomllib, no LiteLLM) that honours the UI's per-step choices."""
    from workbench.config import Config, load_config
    from workbench.llm.registry import ModelProvider

    class UIProvider(ModelProvider):
        """The registry's provider, plus per-step overrides chosen in the TUI."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.overrides: dict[str, str] = {}

        def model_name_for(self, step: str) -> str:
            if step in self.overrides:
                return self.overrides[step]
            return super().model_name_for(step)

    error = ""
    try:
        config = load_config(config_path)
    except WorkbenchError as exc:
        config, error = Config(), str(exc)
    try:
        provider = UIProvider(config, model)
    except WorkbenchError as exc:
        provider, error = UIProvider(config, None), str(exc)
    return provider, error


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def project_dir(base: Path, request: str) -> Path:
    """A fresh directory under `base` named after the request (csv-json, csv-json-2, …)."""
    from workbench.llm.offline import suggest_name

    name = suggest_name(request)
    candidate = base / name
    n = 2
    while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
        candidate = base / f"{name}-{n}"
        n += 1
    return candidate


def git_root(path: Path) -> Path | None:
    """The git repository `path` is in (or would be in, once made), if any."""
    cur = Path(path).expanduser().absolute()
    for p in (cur, *cur.parents):
        if (p / ".git").exists():
            return p
    return None


def default_projects_base(cwd: Path | None = None, home: Path | None = None) -> Path:
    """Where the TUI offers to put a new project: the current directory, unless it is in
    a git repository (a new project does not land in someone's checkout by default);
    then ~/workbench-projects, or the documents folder's, whichever is outside one."""
    cwd = Path.cwd() if cwd is None else Path(cwd)
    if git_root(cwd) is None and os.access(cwd, os.W_OK):
        return cwd
    home = Path.home() if home is None else Path(home)
    candidates = [home / "workbench-projects"]
    try:
        import platformdirs

        candidates.append(Path(platformdirs.user_documents_dir()) / "workbench-projects")
    except Exception:  # noqa: BLE001 - the first candidate is shown either way
        pass
    return next((c for c in candidates if git_root(c) is None), candidates[0])


def engine_available() -> bool:
    try:
        import workbench.lifecycle.engine  # noqa: F401
    except ImportError:
        return False
    return True


class Backend:
    """Holds the store, the engine and the session the app is working on."""

    def __init__(
        self,
        *,
        db_path: Path | None = None,
        config_path: Path | None = None,
        model: str | None = None,
        engine_factory: Callable[..., Any] | None = None,
        store_factory: Callable[[Path], Any] | None = None,
    ):
        self.db_path = db_path
        self.config_path = config_path
        self.provider, self.config_error = _make_provider(model, config_path)
        self.engine_factory = engine_factory
        self.store_factory = store_factory
        self.store: Any = None
        self.engine: Any = None
        self.session_id: str | None = None
        self.error: str = ""
        self._opened = threading.Event()

    # -- models ------------------------------------------------------------
    @property
    def session_model(self) -> str:
        return str(self.provider.default)

    @property
    def overrides(self) -> dict[str, str]:
        return dict(self.provider.overrides)

    def model_for(self, step: str | None) -> str:
        if step is None:
            return self.session_model
        try:
            return str(self.provider.model_name_for(step))
        except WorkbenchError:
            return self.session_model

    def models(self) -> list[ModelInfo]:
        rows = self.provider.describe()
        return [ModelInfo(str(r["alias"]), str(r["model"]), str(r.get("key_env") or ""),
                          str(r.get("key", "")), bool(r.get("usable")), r["alias"] == self.session_model)
                for r in rows]

    def uses_litellm(self) -> bool:
        names = {self.session_model, *self.provider.overrides.values()}
        names |= {self.model_for(step) for step in MODEL_STEPS}
        return bool(names - {OFFLINE})

    def notes(self) -> list[str]:
        out = list(getattr(self.provider, "warnings", []) or [])
        if self.config_error:
            out.insert(0, self.config_error)
        return out

    # -- life --------------------------------------------------------------
    def open(self, on_event: Callable[[Event], None]) -> None:
        """Open the database and build the engine (slow imports: call in a thread)."""
        try:
            if self.store is None:
                path = self.db_path or paths.db_path()
                make_dirs(path.parent)
                if self.store_factory is not None:
                    self.store = self.store_factory(path)
                else:
                    from workbench.store import Store

                    self.store = Store(path)
            if self.engine is None:
                factory = self.engine_factory
                if factory is None:
                    from workbench.lifecycle.engine import Engine

                    factory = Engine
                if getattr(self.provider, "store", None) is None:
                    self.provider.store = self.store  # model calls are recorded
                self.engine = factory(self.store, self.provider, on_event)
        finally:
            self._opened.set()

    def wait_open(self, timeout: float | None = None) -> bool:
        return self._opened.wait(timeout)

    @property
    def ready(self) -> bool:
        return self.engine is not None

    def _need(self) -> Any:
        if self.engine is None:
            self.wait_open(30)
        if self.engine is None:
            raise RuntimeError(self.error or "the lifecycle engine is not available")
        return self.engine

    # -- lifecycle ---------------------------------------------------------
    def start(self, request: str, out_dir: Path, spec_text: str | None = None,
              read_context: bool = False) -> str:
        """A new session. `read_context`: the developer chose to build inside a repository
        and to have its README and pyproject read (otherwise nothing around is read)."""
        engine = self._need()
        self.session_id = engine.start(request, out_dir, spec_text=spec_text,
                                       model=self.session_model, read_context=read_context)
        return self.session_id

    def recent_sessions(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest sessions, newest first (id, request, out_dir, status, current_step)."""
        fn = getattr(self.store, "list_sessions", None)
        return [dict(s) for s in fn(limit=limit)] if fn is not None else []

    def run(self, until: str | None = None) -> Any:
        return self._need().run(self.session_id, until=until)

    def approve(self, gate: str, sha256: str, actor: str) -> Any:
        return self._need().approve(self.session_id, gate, sha256, actor)

    def approve_plan(self, sha256: str, actor: str) -> Any:
        engine = self._need()
        engine.approve(self.session_id, "plan", sha256, actor)
        return engine.run(self.session_id)

    def step_back(self, step: str) -> Any:
        return self._need().step_back(self.session_id, step)

    def rerun(self, step: str) -> Any:
        return self._need().rerun(self.session_id, step)

    def save_spec(self, text: str) -> None:
        if self.session_id is None:
            return
        self._need().save_spec_edit(self.session_id, text)

    def plan(self) -> Any:
        """The plan the apply gate approves: every file Workbench will write (the scaffold,
        then the integration files the integrate steps commit)."""
        return self._need().plan(self.session_id)

    def cancel(self) -> bool:
        """Ask the engine to cancel the running agent turn."""
        cancel = getattr(self.engine, "cancel", None)
        if cancel is None:
            return False
        if hasattr(cancel, "set"):
            cancel.set()  # the engine's threading.Event, handed to every AgentContext
        else:
            cancel(self.session_id)
        return True

    def status(self) -> dict[str, str]:
        if self.engine is None or self.session_id is None:
            return {}
        return dict(self.engine.status(self.session_id))

    def current_spec_text(self) -> str | None:
        fn = getattr(self.engine, "current_spec", None)
        if fn is None or self.session_id is None:
            return None
        spec = fn(self.session_id)
        return spec["text"] if spec else None

    def findings(self) -> list[Any]:
        """The review's findings, numbered, each with its status (open, dismissed, applied)."""
        fn = getattr(self.engine, "findings", None)
        if fn is None or self.session_id is None:
            return []
        return list(fn(self.session_id))

    def dismiss_finding(self, ref: int | str, reason: str, actor: str) -> dict[str, Any]:
        """Dismiss a finding (number or id), with a reason; the engine audits it."""
        if self.session_id is None:
            raise WorkbenchError("no session: describe a tool in the chat first")
        return dict(self._need().dismiss_finding(self.session_id, ref, reason, actor=actor))

    def apply_finding(self, ref: int | str, actor: str) -> dict[str, Any]:
        """Have the agent revise the spec as the finding suggests (a new spec version; the
        review must run again). The result carries `spec_text`, the new version's text."""
        if self.session_id is None:
            raise WorkbenchError("no session: describe a tool in the chat first")
        result = dict(self._need().apply_finding(self.session_id, ref, actor=actor))
        result["spec_text"] = self.current_spec_text()
        return result

    def reject(self, gate: str, actor: str) -> None:
        """Record a rejection. At the plan gate the engine steps back to implementation; at
        the spec gate the developer goes back to editing (the draft is kept, not redrafted)."""
        if self.session_id is None:
            return
        if gate == "plan":
            self._need().reject(self.session_id, gate, "rejected in the TUI", actor=actor)
        elif self.store is not None and hasattr(self.store, "audit"):
            self.store.audit(self.session_id, actor, "approval", "reject",
                             "rejected at the spec gate: back to editing")

    def approve_spec(self, text: str, actor: str) -> Any:
        """Save `text`, bring the spec gate to that exact version, approve it, run on."""
        sid = self.session_id
        engine = self._need()
        self.save_spec(text)
        sha = sha256_text(text)
        if self.status().get("approval") != "waiting":
            outcome = engine.run(sid, until="approval")
            if getattr(outcome, "status", "gate") != "gate":
                return outcome  # review failed: the failure event says why
            if getattr(outcome, "sha256", sha) != sha:
                raise WorkbenchError("the spec changed while it was being approved; review it again")
        engine.approve(sid, "spec", sha, actor)
        return engine.run(sid)

    def switch_model(self, model: str, step: str | None, actor: str) -> None:
        """Switch model for the session or one step; the engine records the switch."""
        target = self.provider.registry.resolve(model)  # UsageError for an unknown model
        if target is not None and not target.usable(self.provider.registry._env):
            raise WorkbenchError(f"model '{model}' has no API key: set {target.api_key_env}")
        if step is None:
            self.provider.default = model
        else:
            self.provider.overrides[step] = model
        engine = self.engine
        if engine is not None and self.session_id is not None and hasattr(engine, "switch_model"):
            engine.switch_model(self.session_id, self.provider, model, step=step, actor=actor)

    # -- audit -------------------------------------------------------------
    def list_events(
        self, *, limit: int = 100, before_id: int | None = None, actor: str | None = None,
        step: str | None = None,
    ) -> list[Any]:
        store = self.store
        if store is None:
            return []
        return list(store.list_events(limit=limit, before_id=before_id, actor=actor, step=step))


def event_field(ev: Any, *names: str, default: Any = "") -> Any:
    """Read a field of an audit event whether it is a dict, a row or an object."""
    for name in names:
        if isinstance(ev, dict):
            if name in ev and ev[name] is not None:
                return ev[name]
        else:
            value = getattr(ev, name, None)
            if value is not None:
                return value
            try:
                return ev[name]  # sqlite3.Row
            except (KeyError, IndexError, TypeError):
                pass
    return default
