"""The design phase through the real engine, once per provider, over real HTTP.

(The lead's end-to-end tests run the whole lifecycle; this checks the model layer's
part: provider -> agents -> gateway -> LiteLLM -> loopback, and what reached the wire.)
"""

from __future__ import annotations

import pytest

from tests.support.loopback import DEFAULT_SPEC, lifecycle_responder

ALIASES = {"openai": "gpt", "anthropic": "claude", "gemini": "gemini"}


@pytest.mark.parametrize("provider", list(ALIASES))
def test_design_phase_per_provider(provider, srv, keys, store, tmp_path):
    engine_mod = pytest.importorskip("workbench.lifecycle.engine")
    from workbench.config import Config, ModelConfig
    from workbench.llm.registry import ModelProvider

    alias = ALIASES[provider]
    builtin = {"gpt": "openai/gpt-4o", "claude": "anthropic/claude-sonnet-4-5", "gemini": "gemini/gemini-2.5-pro"}
    cfg = Config(models={alias: ModelConfig(builtin[alias], api_base=srv.api_base(provider))})
    srv.responder = lifecycle_responder()
    mp = ModelProvider(cfg, alias, store=store, cross_review=False)
    events = []
    engine = engine_mod.Engine(store, mp, events.append)
    sid = engine.start("Convert CSV files to JSON", tmp_path / "out", model=alias)
    outcome = engine.run(sid)
    assert outcome.status == "gate", outcome.message
    assert store.get_spec_version(sid)["text"] == DEFAULT_SPEC
    steps = [r.step for r in srv.requests]
    assert steps == ["analysis", "spec", "review"]
    assert {r.provider for r in srv.requests} == {provider}
    assert all(r.session == sid for r in srv.requests)
    calls = store.list_model_calls(sid)
    assert [c["step"] for c in calls] == ["analysis", "spec", "review"]
    assert all(c["outcome"] == "ok" and c["cost"] is not None for c in calls)
    assert any(e.kind == "token" and e.step == "spec" for e in events)
    dump = "\n".join(store.conn.iterdump())
    for secret in keys.values():
        assert secret not in dump
