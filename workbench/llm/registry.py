"""The model registry: config.toml onto model targets; and the one place that wires the
agents (`ModelProvider`: a model's `ModelAgents` through the gateway, else `OfflineAgents`).

The targets and the providers' key variables are in `llm.targets` (a leaf). The gateway
and the agents never import this module; the store is injected, never opened here.

- Built-in aliases `gpt`, `claude` and `gemini`; `config.toml` may override them and add
  more. A raw LiteLLM id (`openai/gpt-4o`, `ollama_chat/llama3.1`) is accepted anywhere
  an alias is. `offline` is the built-in deterministic drafter and always usable.
- The provider is the id's prefix (`anthropic/...` -> anthropic); the key is read from the
  environment variable LiteLLM uses for that provider, or the model's `api_key_env`.
- The default model: `--model`, else `[workbench] default_model`, else the first usable of
  claude, gpt, gemini (then other configured aliases), else `offline`.
- Per-step models: `[steps] review = "gemini"`. When no model is configured for the
  review and two providers are usable, the review runs on a model from a different
  provider than the one that drafts the spec (cross-model review).

This module never imports LiteLLM, Textual or Rich.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from workbench.config import Config, ModelConfig
from workbench.errors import UsageError, WorkbenchError
from workbench.lifecycle.steps import MODEL_STEPS, ROLE_OF_STEP  # noqa: F401 - ROLE_OF_STEP re-exported
from workbench.llm.base import AgentReport
from workbench.llm.targets import (  # noqa: F401 - re-exported: their old home
    KEYLESS_PROVIDERS,
    LOCAL_HOSTS,  # noqa: F401
    OFFLINE,
    OPENAI_COMPATIBLE,
    PROVIDER_KEY_ENVS,
    ModelTarget,
    is_local,
    key_env_for,
    provider_of,
)

BUILTIN_MODELS: dict[str, ModelConfig] = {
    "claude": ModelConfig(model="anthropic/claude-sonnet-4-5"),
    "gpt": ModelConfig(model="openai/gpt-4o"),
    "gemini": ModelConfig(model="gemini/gemini-2.5-pro"),
}
PREFERENCE = ("claude", "gpt", "gemini")


def model_steps() -> tuple[str, ...]:
    """The steps at which the engine really asks an agent (so a model) for work, in
    lifecycle order: the step table's `calls_model` (`monitor` calls none; `tests` does, to
    repair), which tests/unit/test_step_table.py checks against the handlers' code."""
    return MODEL_STEPS


@dataclass
class Registry:
    """Every model Workbench knows: the built-ins overlaid with config.toml."""

    config: Config = field(default_factory=Config)
    env: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        self.models: dict[str, ModelConfig] = dict(BUILTIN_MODELS)
        self.models.update(self.config.models)
        # The redactor masks the values of every configured key variable, wherever they appear.
        from workbench.safety.redact import register_key_env

        register_key_env(*(m.api_key_env for m in self.models.values() if m.api_key_env))

    @property
    def _env(self) -> Mapping[str, str]:
        return os.environ if self.env is None else self.env

    def aliases(self) -> list[str]:
        """Built-ins first (in preference order), then configured aliases in file order."""
        out = [a for a in PREFERENCE if a in self.models]
        out += [a for a in self.config.models if a not in out]
        return out

    def _target(self, alias: str, mc: ModelConfig) -> ModelTarget:
        provider = provider_of(mc.model)
        key_env = mc.api_key_env
        if key_env is None:
            key_env = key_env_for(provider, self._env)
        key_required = True
        if provider in KEYLESS_PROVIDERS and mc.api_key_env is None:
            key_required = False
        elif provider in OPENAI_COMPATIBLE and is_local(mc.api_base) and mc.api_key_env is None \
                and not (key_env and self._env.get(key_env)):
            key_required = False  # a local OpenAI-compatible server
        elif provider == "unknown" and mc.api_key_env is None:
            key_required = bool(key_env)
        return ModelTarget(alias=alias, model=mc.model, provider=provider, api_base=mc.api_base,
                           api_key_env=key_env, key_required=key_required, fallbacks=mc.fallbacks,
                           timeout=mc.timeout if mc.timeout is not None else self.config.timeout)

    def resolve(self, name: str) -> ModelTarget | None:
        """An alias or raw LiteLLM id -> its target; `offline` -> None."""
        name = name.strip()
        if name == OFFLINE:
            return None
        if name in self.models:
            return self._target(name, self.models[name])
        if "/" in name and not any(c.isspace() for c in name) and not name.startswith("/"):
            # A raw id: reuse a configured api_base/key env when an alias has exactly this id.
            for alias in self.aliases():
                mc = self.models[alias]
                if mc.model == name:
                    return self._target(name, ModelConfig(name, mc.api_base, mc.api_key_env, mc.fallbacks,
                                                                 mc.timeout))
            return self._target(name, ModelConfig(model=name))
        known = ", ".join(self.aliases() + [OFFLINE])
        raise UsageError(f"unknown model '{name}': use an alias ({known}) or a LiteLLM id such as "
                         "openai/gpt-4o")

    def resolve_configured(self, name: str, key: str) -> ModelTarget | None:
        """`resolve` for a name from config.toml: an unknown one names the file and key."""
        try:
            return self.resolve(name)
        except UsageError as exc:
            where = self.config.source or "config.toml"
            line = 1
            if self.config.source:
                try:
                    from pathlib import Path

                    from workbench.config import _line_of

                    line = _line_of(Path(self.config.source).read_text("utf-8"), tuple(key.split(".")))
                except (OSError, UnicodeDecodeError):
                    pass
            raise UsageError(f"{where}:{line}: {key}: {exc}") from None

    def usable_targets(self) -> list[ModelTarget]:
        return [t for t in (self._target(a, self.models[a]) for a in self.aliases()) if t.usable(self._env)]

    def default_name(self) -> str:
        """The default model's alias (or id): configured when usable, else the first usable."""
        configured = self.config.default_model
        if configured:
            t = self.resolve_configured(configured, "workbench.default_model")
            if t is None or t.usable(self._env):
                return configured
        usable = self.usable_targets()
        return usable[0].alias if usable else OFFLINE

    def default_note(self) -> str | None:
        """Why the configured default is not the one in use, if it is not."""
        configured = self.config.default_model
        if not configured:
            return None
        t = self.resolve(configured)
        if t is None or t.usable(self._env):
            return None
        return (f"default model '{configured}' has no key (set {t.api_key_env or 'its api_key_env'}); "
                f"using {self.default_name()}")

    def fallback_chain(self, target: ModelTarget) -> list[ModelTarget]:
        """The target, then its fallbacks (recursively, without repeats)."""
        chain: list[ModelTarget] = []
        seen: set[str] = set()

        def walk(t: ModelTarget) -> None:
            if t.model in seen or len(chain) >= 6:
                return
            seen.add(t.model)
            chain.append(t)
            for name in t.fallbacks:
                try:
                    ft = self.resolve(name)
                except UsageError:
                    continue
                if ft is not None:
                    walk(ft)

        walk(target)
        return chain


class ModelProvider:
    """Chooses the agents for each step: `ModelAgents` for a model, else `OfflineAgents`.

    `model` is `--model` (alias, raw id or `offline`): it replaces the default model for
    the session. `[steps]` entries in config.toml still choose their own step's model.
    """

    def __init__(self, config: Config | None = None, model: str | None = None, *, store=None,
                 gateway=None, env: Mapping[str, str] | None = None, template: str = "python-cli",
                 cross_review: bool = True):
        self.config = config if config is not None else Config()
        self.registry = Registry(self.config, env)
        self._gateway = gateway
        self._store = None
        self.store = store
        self.template = template
        self.cross_review = cross_review
        self.warnings: list[str] = []
        self.skip_review = False  # `resume --no-review`: go on without the Reviewer (recorded)
        self._agents: dict[str, object] = {}
        if model is not None and model.strip():
            name = model.strip()
            t = self.registry.resolve(name)  # raises UsageError for an unknown alias
            if t is not None and not t.usable(self.registry._env):
                raise UsageError(f"model '{name}' ({t.model}) has no API key: set "
                                 f"{t.api_key_env or 'its api_key_env'} in the environment")
            self.default = name
            self.explicit = True
        else:
            self.default = self.registry.default_name()
            self.explicit = False
            note = self.registry.default_note()
            if note:
                self.warnings.append(note)
        for step, name in self.config.steps.items():
            t = self.registry.resolve_configured(name, f"steps.{step}")
            if t is not None and not t.usable(self.registry._env):
                self.warnings.append(f"[steps] {step} = '{name}' has no key (set {t.api_key_env}); "
                                     f"using {self.default}")

    @classmethod
    def from_config(cls, model: str | None = None, *, store=None, path=None, **kw) -> ModelProvider:
        from workbench.config import load_config

        return cls(load_config(path), model, store=store, **kw)

    # -- choosing --------------------------------------------------------------
    def model_name_for(self, step: str) -> str:
        """The alias or id (or `offline`) that acts at a step."""
        env = self.registry._env
        name = self.config.steps.get(step)
        if name is not None:
            t = self.registry.resolve(name)
            if t is None or t.usable(env):
                return name
        if step == "review" and self.cross_review and "review" not in self.config.steps:
            drafter = self.model_name_for("spec")
            dt = self.registry.resolve(drafter)
            if dt is not None:
                for t in self.registry.usable_targets():
                    if t.provider != dt.provider:
                        return t.alias
        return self.default

    def target_for(self, step: str) -> ModelTarget | None:
        return self.registry.resolve(self.model_name_for(step))

    @property
    def label(self) -> str:
        t = self.registry.resolve(self.default)
        return OFFLINE if t is None else t.label

    @property
    def store(self):
        return self._store

    @store.setter
    def store(self, store) -> None:
        """Bind the store model calls are recorded in (also after agents were made)."""
        self._store = store
        if self._gateway is not None and store is not None:
            self._gateway.store = store

    @property
    def gateway(self):
        """The gateway model calls go through, recording each in the injected store."""
        if self._gateway is None:
            if self._store is None:
                raise WorkbenchError("model provider: no store to record model calls in (pass the "
                                     "session's Store as store=, or set provider.store, before a model "
                                     "is used)")
            from workbench.llm.gateway import Gateway

            self._gateway = Gateway(store=self._store)
        return self._gateway

    def for_step(self, step: str):
        if step == "review" and self.skip_review:
            return SkippedReview()
        name = self.model_name_for(step)
        if name not in self._agents:
            target = self.registry.resolve(name)
            if target is None:
                from workbench.llm.offline import OfflineAgents

                self._agents[name] = OfflineAgents(self.template)
            else:
                from workbench.llm.agents import ModelAgents

                self._agents[name] = ModelAgents(target, self.gateway,
                                                 chain=self.registry.fallback_chain(target),
                                                 template=self.template)
        return self._agents[name]

    def describe(self) -> list[dict]:
        """One row per known model, for `workbench models`."""
        env = self.registry._env
        rows = []
        for alias in self.registry.aliases():
            t = self.registry.resolve(alias)
            assert t is not None
            rows.append({
                "alias": alias, "model": t.model, "provider": t.provider, "key": t.key_status(env),
                "key_env": t.api_key_env or "", "api_base": t.api_base or "",
                "fallbacks": list(t.fallbacks), "default": alias == self.default,
                "usable": t.usable(env),
            })
        rows.append({"alias": OFFLINE, "model": "(built-in)", "provider": "workbench", "key": "not needed",
                     "key_env": "", "api_base": "", "fallbacks": [], "default": self.default == OFFLINE,
                     "usable": True})
        if self.default != OFFLINE and self.default not in self.registry.models:
            t = self.registry.resolve(self.default)
            if t is not None:
                rows.insert(0, {"alias": self.default, "model": t.model, "provider": t.provider,
                                "key": t.key_status(env), "key_env": t.api_key_env or "",
                                "api_base": t.api_base or "", "fallbacks": [], "default": True,
                                "usable": t.usable(env)})
        return rows


class SkippedReview:
    """The review step when the developer goes on without the Reviewer agent (its model
    never answered in JSON, say): no findings, and the decision reported for the audit log."""

    label = "none (review skipped by the developer)"

    def review(self, ctx, spec_text: str) -> list:
        from workbench.identity import human

        ctx.report(AgentReport("review_skipped", "went on without the Reviewer agent (resume "
                               "--no-review); only the deterministic validation judged this spec",
                               actor=f"human:{human()}"))
        return []


def build_provider(model: str | None = None, template: str = "python-cli", store=None,
                   config_path=None) -> ModelProvider:
    """The provider the CLI and the TUI use: config.toml (`WORKBENCH_HOME`) plus `--model`.

    Model calls are recorded in `store`, the caller's (the CLI's and the TUI's own); the
    provider never opens one. Without it, the offline drafter still works and the first
    model call is refused with a one-line error.
    """
    from workbench.config import load_config

    return ModelProvider(load_config(config_path), model, store=store, template=template)
