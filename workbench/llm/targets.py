"""Model targets and provider key variables: a leaf of the llm package.

What a model Workbench can call looks like (`ModelTarget`), the environment variables
LiteLLM reads each provider's key from, and the providers that need none. The registry
(`llm.registry`) maps config.toml onto these; the gateway and the agents only read them.
This module imports nothing of Workbench.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

OFFLINE = "offline"

# The environment variables LiteLLM reads for each provider (first one wins).
PROVIDER_KEY_ENVS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "text-completion-openai": ("OPENAI_API_KEY",),
    "azure": ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY"),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "mistral": ("MISTRAL_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY",),
    "together_ai": ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY"),
    "cohere": ("COHERE_API_KEY",),
    "cohere_chat": ("COHERE_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "perplexity": ("PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"),
    "fireworks_ai": ("FIREWORKS_AI_API_KEY", "FIREWORKS_API_KEY"),
    "huggingface": ("HUGGINGFACE_API_KEY", "HF_TOKEN"),
    "cerebras": ("CEREBRAS_API_KEY",),
    "deepinfra": ("DEEPINFRA_API_KEY",),
    "anyscale": ("ANYSCALE_API_KEY",),
    "replicate": ("REPLICATE_API_KEY",),
    "nvidia_nim": ("NVIDIA_NIM_API_KEY",),
    "sambanova": ("SAMBANOVA_API_KEY",),
}
# Providers that run locally and need no key.
KEYLESS_PROVIDERS = {"ollama", "ollama_chat", "hosted_vllm", "lm_studio", "llamafile", "vllm"}
# Providers LiteLLM can talk to with a custom api_base in the OpenAI dialect.
OPENAI_COMPATIBLE = {"openai", "hosted_vllm", "lm_studio", "llamafile", "openai_like"}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


def provider_of(model_id: str) -> str:
    """The LiteLLM provider of a model id, from its prefix (or its name for bare ids)."""
    if "/" in model_id:
        return model_id.split("/", 1)[0].lower()
    m = model_id.lower()
    if m.startswith(("gpt-", "o1", "o3", "o4", "chatgpt", "text-embedding", "davinci")):
        return "openai"
    if m.startswith("claude"):
        return "anthropic"
    if m.startswith("gemini"):
        return "gemini"
    if m.startswith(("mistral", "codestral", "open-mistral")):
        return "mistral"
    return "unknown"


def key_env_for(provider: str, env: Mapping[str, str] | None = None) -> str | None:
    """The variable a provider's key is read from: the first of its variables that is set,
    else the first it has (None: the provider has none known)."""
    env = os.environ if env is None else env
    names = PROVIDER_KEY_ENVS.get(provider, ())
    return next((n for n in names if env.get(n)), names[0] if names else None)


def all_key_envs() -> set[str]:
    """Every provider key variable LiteLLM reads (the redactor masks their values)."""
    return {n for ns in PROVIDER_KEY_ENVS.values() for n in ns}


def is_local(api_base: str | None) -> bool:
    """Whether an api_base points at this machine."""
    if not api_base:
        return False
    try:
        host = urlsplit(api_base).hostname or ""
    except ValueError:
        return False
    return host in LOCAL_HOSTS or host.startswith("127.")


@dataclass(frozen=True)
class ModelTarget:
    """A model Workbench can call: the alias it was chosen by and how to reach it."""

    alias: str  # the alias, or the raw id when chosen by id
    model: str  # the LiteLLM model id
    provider: str
    api_base: str | None = None
    api_key_env: str | None = None  # the variable the key is read from (None: none needed/known)
    key_required: bool = True
    fallbacks: tuple[str, ...] = ()  # aliases or ids, resolved by the registry
    timeout: float | None = None  # read timeout in seconds (None: the gateway's default)

    @property
    def label(self) -> str:
        return self.model if self.alias == self.model else f"{self.alias} ({self.model})"

    def api_key(self, env: Mapping[str, str] | None = None) -> str | None:
        env = os.environ if env is None else env
        if self.api_key_env:
            value = env.get(self.api_key_env)
            if value:
                return value
        return None

    def key_present(self, env: Mapping[str, str] | None = None) -> bool:
        return self.api_key(env) is not None

    def usable(self, env: Mapping[str, str] | None = None) -> bool:
        return not self.key_required or self.key_present(env)

    def key_status(self, env: Mapping[str, str] | None = None) -> str:
        if self.key_present(env):
            return "yes"
        return "no" if self.key_required else "not needed"
