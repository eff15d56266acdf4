"""Applying a review finding with a real model over HTTP: the Tool Builder agent is asked
to revise the spec, its reply is checked like a draft, and the new version is recorded."""

from __future__ import annotations

import pytest

from tests.support.loopback import DEFAULT_SPEC, lifecycle_responder
from workbench.errors import UsageError


def engine_for(srv, store, responder):
    from workbench.config import Config, ModelConfig
    from workbench.lifecycle.engine import Engine
    from workbench.llm.registry import ModelProvider

    cfg = Config(models={"gpt": ModelConfig("openai/gpt-4o", api_base=srv.api_base("openai"))})
    srv.responder = responder
    return Engine(store, ModelProvider(cfg, "gpt", store=store, cross_review=False))


def test_a_model_applies_a_finding(srv, keys, store, tmp_path):
    engine = engine_for(srv, store, lifecycle_responder())
    sid = engine.start("Convert CSV files to JSON", tmp_path / "out", model="gpt")
    assert engine.run(sid).status == "gate"
    [finding] = engine.findings(sid)
    assert finding["text"] == "Consider an --output option."
    done = engine.apply_finding(sid, 1)
    assert done["spec_version"] == 2
    text = store.get_spec_version(sid)["text"]
    assert text.startswith(DEFAULT_SPEC.rstrip("\n")) and "--output PATH when given" in text
    ask = srv.requests[-1]
    assert ask.step == "spec" and ask.session == sid
    assert "Consider an --output option." in ask.last_user_text()
    assert "Suggested change: Add --output PATH." in ask.last_user_text()
    assert "apply one review finding" in ask.prompt_text()
    assert [c["step"] for c in store.list_model_calls(sid)][-1] == "spec"
    assert engine.status(sid)["review"] == "pending"
    dump = "\n".join(store.conn.iterdump())
    assert not any(secret in dump for secret in keys.values())


def test_a_revision_that_is_not_a_valid_spec_is_refused_after_one_re_ask(srv, keys, store, tmp_path):
    engine = engine_for(srv, store, lifecycle_responder(revise=lambda text: "Sure! I made it better."))
    sid = engine.start("Convert CSV files to JSON", tmp_path / "out", model="gpt")
    engine.run(sid)
    from workbench.llm.agents import ModelOutputError

    with pytest.raises(ModelOutputError, match="invalid spec after one re-ask"):
        engine.apply_finding(sid, 1)
    assert store.get_spec_version(sid)["version"] == 1
    assert engine.findings(sid)[0]["status"] == "open"


def test_a_revision_identical_to_the_spec_is_refused(srv, keys, store, tmp_path):
    engine = engine_for(srv, store, lifecycle_responder(revise=lambda text: text))
    sid = engine.start("Convert CSV files to JSON", tmp_path / "out", model="gpt")
    engine.run(sid)
    with pytest.raises(UsageError, match="left the spec unchanged"):
        engine.apply_finding(sid, 1)


def test_step_done_events_carry_tokens_and_the_model_that_answered(srv, keys, store, tmp_path):
    """A view shows cost per step from the event itself (issue 15): tokens, cost, model."""
    from workbench.lifecycle import events as ev

    engine = engine_for(srv, store, lifecycle_responder())
    seen: list = []
    engine.on_event = seen.append
    sid = engine.start("Convert CSV files to JSON", tmp_path / "out", model="gpt")
    assert engine.run(sid).status == "gate"
    done = {e.step: e for e in seen if isinstance(e, ev.StepDone)}
    assert done["spec"].tokens and done["spec"].tokens > 0
    assert done["spec"].model == "openai/gpt-4o"
    assert done["request"].tokens is None and done["request"].model is None  # no model asked
    assert done["spec"].to_json()["model"] == "openai/gpt-4o"
