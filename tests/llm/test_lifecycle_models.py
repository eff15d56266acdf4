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
    # the audit trail carries each agent step's tokens and cost
    done = {e["step"]: e for e in store.list_events(session=sid, action="step_done", limit=50)}
    spec_call = calls[1]
    assert done["spec"]["tokens"] == spec_call["prompt_tokens"] + spec_call["completion_tokens"] > 0
    assert done["spec"]["cost"] == pytest.approx(spec_call["cost"])
    assert done["request"]["tokens"] is None
    dump = "\n".join(store.conn.iterdump())
    for secret in keys.values():
        assert secret not in dump


@pytest.mark.parametrize("provider", list(ALIASES))
def test_whole_lifecycle_per_provider_keeps_keys_out(provider, srv, keys, store, tmp_path):
    engine_mod = pytest.importorskip("workbench.lifecycle.engine")
    import subprocess

    from workbench.config import Config, ModelConfig
    from workbench.llm.registry import ModelProvider

    alias = ALIASES[provider]
    builtin = {"gpt": "openai/gpt-4o", "claude": "anthropic/claude-sonnet-4-5", "gemini": "gemini/gemini-2.5-pro"}
    cfg = Config(models={alias: ModelConfig(builtin[alias], api_base=srv.api_base(provider))})

    def implement(current: dict[str, str]) -> dict[str, str]:
        # The model "writes" the files it was given, with a comment naming the provider.
        return {p: (f"# written by {provider}\n" + c if p.endswith(".py") else c) for p, c in current.items()}

    srv.responder = lifecycle_responder(files=implement)
    mp = ModelProvider(cfg, alias, store=store, cross_review=False)
    options = engine_mod.Options(allow_unsandboxed=True, run_monitor=False)
    engine = engine_mod.Engine(store, mp, options=options)
    out = tmp_path / "out"
    sid = engine.start("Convert CSV files to JSON", out, model=alias)
    for _ in range(6):
        outcome = engine.run(sid)
        if outcome.status != "gate":
            break
        engine.approve(sid, outcome.gate, outcome.sha256, actor="human:test")
    assert outcome.status == "done", outcome.message
    wire_steps = [r.step for r in srv.requests]
    assert wire_steps[:4] == ["analysis", "spec", "review", "implementation"]
    assert all(r.provider == provider and r.session == sid for r in srv.requests)
    owned = [p for p in out.rglob("*.py") if f"# written by {provider}" in p.read_text()]
    assert owned, "the model's implementation did not reach the project"
    # The sentinel keys reached the (loopback) provider, and nowhere else.
    tree = "\n".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    history = subprocess.run(["git", "-C", str(out), "log", "-p", "--all"], capture_output=True,
                             text=True, check=True).stdout
    db = "\n".join(store.conn.iterdump())
    for secret in keys.values():
        assert secret not in tree and secret not in history and secret not in db
