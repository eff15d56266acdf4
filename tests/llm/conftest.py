"""Fixtures for the model layer: a loopback LLM server, a store, a fast gateway.

LiteLLM is imported once per process (the gateway caches the module), so only the
first test that calls a model pays its ~3 s import.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

from tests.support.loopback import LoopbackLLM

SENTINELS = {
    "OPENAI_API_KEY": "sk-SENTINEL-openai-0123456789abcdef",
    "ANTHROPIC_API_KEY": "sk-ant-SENTINEL-anthropic-0123456789",
    "GEMINI_API_KEY": "AIzaSENTINELgemini0123456789abcdefgh",
}
PROVIDER_MODELS = {
    "openai": "openai/gpt-4o",
    "anthropic": "anthropic/claude-sonnet-4-5",
    "gemini": "gemini/gemini-2.5-pro",
}


@pytest.fixture
def srv():
    with LoopbackLLM() as s:
        yield s


@pytest.fixture
def keys(monkeypatch):
    for name in ("GOOGLE_API_KEY", "AZURE_API_KEY", "MISTRAL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in SENTINELS.items():
        monkeypatch.setenv(name, value)
    return dict(SENTINELS)


@pytest.fixture
def store(tmp_path):
    from workbench.store import Store

    s = Store(tmp_path / "workbench.db")
    yield s
    s.close()


@pytest.fixture
def session_id(store, tmp_path):
    return store.create_session("Convert CSV files to JSON", tmp_path / "out")


class Sleeps:
    """Records the gateway's backoff waits instead of sleeping."""

    def __init__(self):
        self.calls: list[float] = []

    def __call__(self, seconds: float, cancel) -> bool:
        self.calls.append(seconds)
        return cancel.is_set()


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def gateway(store, sleeps):
    from workbench.llm.gateway import Gateway, GatewaySettings

    # (a timeout test sets its own: under load, a provider's first call - LiteLLM loading
    # that provider's code - once took over the 1 s this fixture had, three times in a row)
    return Gateway(store, GatewaySettings(connect_timeout=10.0, read_timeout=10.0, max_retries=2,
                                          backoff_base=0.01), sleep=sleeps)


@pytest.fixture
def target_for(srv):
    """target_for(provider, alias=None, model=None) -> a ModelTarget pointing at the loopback."""
    from workbench.llm.registry import PROVIDER_KEY_ENVS, ModelTarget

    def make(provider: str, alias: str | None = None, model: str | None = None,
             fallbacks: tuple[str, ...] = ()):
        return ModelTarget(alias=alias or provider, model=model or PROVIDER_MODELS[provider], provider=provider,
                           api_base=srv.api_base(provider), api_key_env=PROVIDER_KEY_ENVS[provider][0],
                           fallbacks=fallbacks)

    return make
