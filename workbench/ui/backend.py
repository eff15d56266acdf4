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
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.lifecycle.events import Event

OFFLINE = "offline"

# The environment variable LiteLLM reads for each provider prefix.
KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "vertex_ai": "GOOGLE_APPLICATION_CREDENTIALS",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "xai": "XAI_API_KEY",
    "azure": "AZURE_API_KEY",
}
NO_KEY_PROVIDERS = ("ollama", "ollama_chat", "lm_studio", "hosted_vllm", "llamafile")


@dataclass(frozen=True)
class ModelInfo:
    """One model as the UI shows it."""

    name: str  # alias from config.toml, or "offline"
    model_id: str  # LiteLLM id
    key_env: str  # the variable holding its key ("" when none is needed)
    key_present: bool
    api_base: str = ""

    @property
    def usable(self) -> bool:
        return self.name == OFFLINE or self.key_present

    @property
    def provider(self) -> str:
        return self.model_id.split("/", 1)[0] if "/" in self.model_id else ""


OFFLINE_MODEL = ModelInfo(OFFLINE, OFFLINE, "", True)


@dataclass
class ModelConfig:
    default: str = OFFLINE
    models: list[ModelInfo] = field(default_factory=list)
    path: Path | None = None
    error: str = ""

    def get(self, name: str) -> ModelInfo | None:
        if name == OFFLINE:
            return OFFLINE_MODEL
        for m in self.models:
            if m.name == name:
                return m
        return None

    @property
    def all(self) -> list[ModelInfo]:
        return [*self.models, OFFLINE_MODEL]

    @property
    def effective_default(self) -> str:
        """The default model if it is usable, else `offline` (no key, no model)."""
        m = self.get(self.default)
        if m is not None and m.usable:
            return m.name
        if m is None and self.default and self.default != OFFLINE and "/" in self.default:
            info = _model_info(self.default, {"model": self.default})
            return info.name if info.usable else OFFLINE
        return OFFLINE


def _model_info(name: str, table: dict[str, Any]) -> ModelInfo:
    model_id = str(table.get("model", name))
    key_env = str(table.get("api_key_env", ""))
    provider = model_id.split("/", 1)[0] if "/" in model_id else ""
    if not key_env:
        key_env = KEY_ENV.get(provider, "")
    if key_env:
        present = bool(os.environ.get(key_env))
    else:
        present = provider in NO_KEY_PROVIDERS
    return ModelInfo(name, model_id, key_env, present, str(table.get("api_base", "")))


def load_models(config_path: Path | None = None) -> ModelConfig:
    """Read the models from config.toml (cheap: tomllib only, never LiteLLM)."""
    path = config_path or paths.config_path()
    cfg = ModelConfig(path=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return cfg
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        cfg.error = f"{path}: {exc}"
        return cfg
    cfg.default = str((data.get("workbench") or {}).get("default_model", OFFLINE)) or OFFLINE
    for name, table in (data.get("models") or {}).items():
        if isinstance(table, dict):
            cfg.models.append(_model_info(name, table))
    return cfg


class ModelChoice:
    """Which model the session uses, and per-step overrides. Thread-safe."""

    def __init__(self, session_model: str = OFFLINE):
        self._lock = threading.Lock()
        self.session_model = session_model
        self.per_step: dict[str, str] = {}

    def set(self, model: str, step: str | None = None) -> None:
        with self._lock:
            if step is None:
                self.session_model = model
            else:
                self.per_step[step] = model

    def for_step(self, step: str | None) -> str:
        with self._lock:
            if step is not None and step in self.per_step:
                return self.per_step[step]
            return self.session_model


class SessionProvider:
    """The `AgentProvider` the engine sees: it honours the UI's model choice per step.

    Offline agents are built here; any other model goes through the gateway's
    registry (`workbench.llm.registry`), imported only when such a model is used.
    """

    def __init__(self, choice: ModelChoice, config: ModelConfig):
        self.choice = choice
        self.config = config
        self._cache: dict[str, Any] = {}

    def model_for(self, step: str | None) -> str:
        return self.choice.for_step(step)

    def for_step(self, step: str):
        name = self.choice.for_step(step)
        if name not in self._cache:
            self._cache[name] = self._agents_for(name)
        agents = self._cache[name]
        if hasattr(agents, "for_step") and not hasattr(agents, "analyse"):
            return agents.for_step(step)
        return agents

    def _agents_for(self, name: str):
        if name == OFFLINE:
            from workbench.llm.offline import OfflineAgents

            return OfflineAgents()
        from workbench.llm import registry  # the gateway's registry (imports LiteLLM lazily)

        for fn_name in ("agents_for", "provider_for", "agents_for_model"):
            fn = getattr(registry, fn_name, None)
            if fn is not None:
                return fn(name)
        reg_cls = getattr(registry, "Registry", None) or getattr(registry, "ModelRegistry", None)
        if reg_cls is None:
            raise RuntimeError("workbench.llm.registry offers no way to build agents for a model")
        try:
            reg = reg_cls.load(default=name) if hasattr(reg_cls, "load") else reg_cls(default=name)
        except TypeError:
            reg = reg_cls()
        return reg


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
        engine_factory: Callable[..., Any] | None = None,
        store_factory: Callable[[Path], Any] | None = None,
    ):
        self.db_path = db_path
        self.config = load_models(config_path)
        self.choice = ModelChoice(self.config.effective_default)
        self.provider = SessionProvider(self.choice, self.config)
        self.engine_factory = engine_factory
        self.store_factory = store_factory
        self.store: Any = None
        self.engine: Any = None
        self.session_id: str | None = None
        self.error: str = ""
        self._opened = threading.Event()

    # -- life --------------------------------------------------------------
    def open(self, on_event: Callable[[Event], None]) -> None:
        """Open the database and build the engine (slow imports: call in a thread)."""
        try:
            if self.store is None:
                path = self.db_path or paths.db_path()
                path.parent.mkdir(parents=True, exist_ok=True)
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
    def start(self, request: str, out_dir: Path, spec_text: str | None = None) -> str:
        engine = self._need()
        model = self.choice.session_model
        self.session_id = engine.start(request, out_dir, spec_text=spec_text, model=model)
        return self.session_id

    def run(self, until: str | None = None) -> Any:
        return self._need().run(self.session_id, until=until)

    def approve(self, gate: str, sha256: str, actor: str) -> Any:
        return self._need().approve(self.session_id, gate, sha256, actor)

    def step_back(self, step: str) -> Any:
        return self._need().step_back(self.session_id, step)

    def rerun(self, step: str) -> Any:
        return self._need().rerun(self.session_id, step)

    def save_spec(self, text: str) -> None:
        if self.session_id is None:
            return
        self._need().save_spec_edit(self.session_id, text)

    def plan(self) -> Any:
        return self._need().plan(self.session_id)

    def cancel(self) -> bool:
        """Ask the engine to cancel the running agent turn, if it can."""
        engine = self.engine
        cancel = getattr(engine, "cancel", None)
        if cancel is None or self.session_id is None:
            return False
        cancel(self.session_id)
        return True

    def switch_model(self, model: str, step: str | None, actor: str) -> None:
        """Switch model for the session or one step, and record the switch."""
        self.choice.set(model, step)
        engine = self.engine
        for name in ("switch_model", "set_model"):
            fn = getattr(engine, name, None)
            if fn is not None and self.session_id is not None:
                try:
                    fn(self.session_id, model, step=step, actor=actor)
                    return
                except TypeError:
                    pass
        self.record("model_switch", actor, step, {"model": model, "scope": step or "session"})

    def record(self, action: str, actor: str, step: str | None, data: dict[str, Any]) -> None:
        store = self.store
        if store is None:
            return
        for name in ("audit", "append_event", "record_event", "add_event"):
            fn = getattr(store, name, None)
            if fn is None:
                continue
            try:
                fn(session_id=self.session_id, actor=actor, action=action, step=step, data=data)
            except TypeError:
                continue
            return

    # -- audit -------------------------------------------------------------
    def list_events(
        self, *, limit: int = 100, offset: int = 0, actor: str | None = None, step: str | None = None
    ) -> list[Any]:
        store = self.store
        if store is None:
            return []
        return list(store.list_events(limit=limit, offset=offset, actor=actor, step=step))

    def actors(self) -> list[str]:
        store = self.store
        fn = getattr(store, "list_actors", None) or getattr(store, "actors", None)
        if fn is None:
            return []
        try:
            return sorted(str(a) for a in fn())
        except Exception:  # noqa: BLE001 - a filter list is a convenience
            return []


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
