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
from typing import Any, Protocol

from workbench import paths
from workbench.errors import WorkbenchError
from workbench.lifecycle.events import Event
from workbench.lifecycle.session import EngineLike, Policy, SessionService, SessionView
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
    return provider, error, dict(config.keys)


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


class UIEngine(EngineLike, Protocol):
    """What the TUI asks of an engine, through the session service and beside it (the
    real `Engine` and the tests' `FakeEngine` are both checked against it)."""

    cancel: Any  # a threading.Event handed to every agent call

    def step_back(self, sid: str, step: str) -> None: ...
    def rerun(self, sid: str, step: str) -> Any: ...
    def plan(self, sid: str, steps: set[str] | None = None) -> Any: ...
    def current_spec(self, sid: str) -> dict | None: ...
    def apply_finding(self, sid: str, ref: str | int, actor: str | None = None) -> dict: ...
    def dismiss_finding(self, sid: str, ref: str | int, reason: str = "", actor: str | None = None) -> dict: ...
    def switch_model(self, sid: str, provider: Any, model: str, step: str | None = None,
                     actor: str | None = None) -> None: ...


class Backend:
    """Holds the store, the session service and the session the app is working on. Every
    lifecycle decision is the service's (`next_action`, `advance`, `approve`, `reject`,
    `drive`); this only says which session and which actor."""

    def __init__(
        self,
        *,
        db_path: Path | None = None,
        config_path: Path | None = None,
        model: str | None = None,
        engine_factory: Callable[..., UIEngine] | None = None,
        store_factory: Callable[[Path], Any] | None = None,
    ):
        self.db_path = db_path
        self.config_path = config_path
        self.provider, self.config_error, self.keys = _make_provider(model, config_path)
        self.engine_factory = engine_factory
        self.store_factory = store_factory
        self.store: Any = None
        self.service: SessionService | None = None
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
        out = list(self.provider.warnings)
        if self.config_error:
            out.insert(0, self.config_error)
        return out

    # -- life --------------------------------------------------------------
    def open(self, on_event: Callable[[Event], None]) -> None:
        """Open the database and the session service (slow imports: call in a thread)."""
        try:
            if self.store is None:
                path = self.db_path or paths.db_path()
                make_dirs(path.parent)
                if self.store_factory is not None:
                    self.store = self.store_factory(path)
                else:
                    from workbench.store import Store

                    self.store = Store(path)
            if self.service is None:
                if self.provider.store is None:
                    self.provider.store = self.store  # model calls are recorded
                self.service = SessionService(self.store, lambda _model, _template: self.provider,
                                              on_event, engine_factory=self.engine_factory)
        finally:
            self._opened.set()

    def wait_open(self, timeout: float | None = None) -> bool:
        return self._opened.wait(timeout)

    @property
    def ready(self) -> bool:
        return self.service is not None

    def _need(self) -> SessionService:
        if self.service is None:
            self.wait_open(30)
        if self.service is None:
            raise RuntimeError(self.error or "the lifecycle engine is not available")
        return self.service

    def _sid(self) -> str:
        if self.session_id is None:
            raise WorkbenchError("no session: describe a tool in the chat first")
        return self.session_id

    @property
    def engine(self) -> UIEngine | None:
        """The engine of the open session (None before the service is open)."""
        if self.service is None:
            return None
        return self.service.engine(self.session_id)

    # -- reading -----------------------------------------------------------
    def view(self) -> SessionView | None:
        """The open session as the service sees it (None when none is open)."""
        if self.service is None or self.session_id is None:
            return None
        return self.service.view(self.session_id)

    def find(self, prefix: str) -> dict[str, Any]:
        return self._need().find(prefix)

    def recent_sessions(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest sessions, newest first (id, request, out_dir, status, current_step)."""
        return [dict(s) for s in self._need().recent(limit)]

    def plan(self) -> Any:
        """The plan the apply gate approves: every file Workbench will write (the scaffold,
        then the integration files the integrate steps commit)."""
        return self._need().plan(self._sid())

    def draft_text(self) -> str | None:
        """The model's first draft of the open session (the base of the editor's diff)."""
        return self.store.get_output(self._sid(), "spec", "draft")

    def approved_spec(self) -> dict[str, Any] | None:
        """The spec version approved at the gate, if the gate was passed."""
        sid = self._sid()
        approval = self.store.get_approval(sid, "spec")
        if not approval:
            return None
        return next((v for v in reversed(self.store.list_spec_versions(sid))
                     if v["sha256"] == approval["sha256"]), None)

    # -- lifecycle ---------------------------------------------------------
    def start(self, request: str, out_dir: Path, spec_text: str | None = None,
              read_context: bool = False) -> str:
        """A new session. `read_context`: the developer chose to build inside a repository
        and to have its README and pyproject read (otherwise nothing around is read)."""
        self.session_id = self._need().start(request, out_dir, spec_text=spec_text,
                                             model=self.session_model, read_context=read_context)
        return self.session_id

    def drive(self) -> Any:
        """Run on to the next gate, a failure or the end."""
        return self._need().drive(self._sid(), Policy.stop())

    def advance(self) -> Any:
        """Next: what the service says comes next (an Outcome, or the NextAction to offer)."""
        return self._need().advance(self._sid())

    def approve(self, sha256: str, actor: str) -> Any:
        """Approve the waiting gate, only at exactly `sha256` (the service's hash), then run on."""
        service = self._need()
        service.approve(self._sid(), sha256, actor=actor)
        return service.drive(self._sid(), Policy.stop())

    def reject(self, reason: str, actor: str) -> Any:
        """Reject the waiting gate through the service (recorded; back to the spec, or to
        the implementation at the plan gate)."""
        return self._need().reject(self._sid(), reason, actor=actor)

    def step_back(self, step: str) -> Any:
        return self._need().engine(self._sid()).step_back(self._sid(), step)

    def rerun(self, step: str) -> Any:
        return self._need().engine(self._sid()).rerun(self._sid(), step)

    def save_spec(self, text: str) -> None:
        if self.session_id is None:
            return
        self._need().revise_spec(self.session_id, text)

    def cancel(self) -> bool:
        """Ask the engine to cancel the running agent turn."""
        engine = self.engine
        if engine is None:
            return False
        engine.cancel.set()  # the engine's threading.Event, handed to every AgentContext
        return True

    def current_spec_text(self) -> str | None:
        if self.service is None or self.session_id is None:
            return None
        spec = self.service.engine(self.session_id).current_spec(self.session_id)
        return spec["text"] if spec else None

    def findings(self) -> list[Any]:
        """The review's findings, numbered, each with its status (open, dismissed, applied)."""
        if self.service is None or self.session_id is None:
            return []
        return list(self.service.findings(self.session_id))

    def dismiss_finding(self, ref: int | str, reason: str, actor: str) -> dict[str, Any]:
        """Dismiss a finding (number or id), with a reason; the engine audits it."""
        return dict(self._need().dismiss_finding(self._sid(), ref, reason, actor=actor))

    def apply_finding(self, ref: int | str, actor: str) -> dict[str, Any]:
        """Have the agent revise the spec as the finding suggests (a new spec version; the
        review must run again). The result carries `spec_text`, the new version's text."""
        result = dict(self._need().apply_finding(self._sid(), ref, actor=actor))
        result["spec_text"] = self.current_spec_text()
        return result

    def revise_by_request(self, request: str, actor: str) -> dict[str, Any]:
        """A chat message while a session has a spec: the service has the Tool Builder agent
        revise it (a new version, reviewed again). The result carries `spec_text` (the new
        version) and `before` (the version it revised)."""
        result = dict(self._need().revise_by_request(self._sid(), request, actor=actor))
        result["spec_text"] = self.current_spec_text()
        return result

    def switch_model(self, model: str, step: str | None, actor: str) -> None:
        """Switch model for the session or one step; the engine records the switch."""
        target = self.provider.registry.resolve(model)  # UsageError for an unknown model
        if target is not None and not target.usable(self.provider.registry._env):
            raise WorkbenchError(f"model '{model}' has no API key: set {target.api_key_env}")
        if step is None:
            self.provider.default = model
        else:
            self.provider.overrides[step] = model
        if self.service is not None and self.session_id is not None:
            self.service.engine(self.session_id).switch_model(self.session_id, self.provider, model,
                                                              step=step, actor=actor)

    # -- audit -------------------------------------------------------------
    def list_events(
        self, *, limit: int = 100, before_id: int | None = None, actor: str | None = None,
        step: str | None = None, session: str | None = None,
    ) -> list[Any]:
        store = self.store
        if store is None:
            return []
        return list(store.list_events(limit=limit, before_id=before_id, actor=actor, step=step,
                                      session=session))


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
