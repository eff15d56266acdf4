"""Metrics of model calls as the gateway records them: errors by cause, re-asks, cost 0
for failed calls; and `workbench models` naming the steps that really call a model."""

from __future__ import annotations

import json

import pytest

from tests.support.loopback import Reply
from workbench.llm.base import AgentContext
from workbench.llm.gateway import ModelError

MESSAGES = [{"role": "user", "content": "Say hello."}]


def test_errors_by_cause_reasks_and_cost(srv, keys, store, session_id, target_for, gateway):
    from workbench.llm.agents import ModelAgents
    from workbench.store import metrics

    srv.script([Reply(status=429), Reply(status=503), "ok",  # 429, 5xx, then an answer
                Reply(fault="malformed", text="x y")])  # a bad stream
    c = AgentContext(session_id, "analysis")
    gateway.complete(target_for("openai"), MESSAGES, c)
    with pytest.raises(ModelError):
        gateway.complete(target_for("anthropic"), MESSAGES, c)
    srv.script(["not json at all", json.dumps({"findings": []})])  # one re-ask
    from workbench.lifecycle.engine import Engine  # which audits the re-ask the agent reports

    ModelAgents(target_for("gemini"), gateway).review(Engine(store, None).ctx(session_id, "review"), "spec")
    e = metrics.error_rates(store)
    causes = {c["cause"]: c["errors"] for c in e["by_cause"] if c["source"] in ("model", "output")}
    assert causes == {"429": 1, "5xx": 1, "bad stream": 1, "invalid output": 1}
    assert e["reasks"] == 1 and e["rejected_after_reask"] == 0
    u = metrics.usage(store)["by_step"]["analysis"]
    assert u["cost_unknown_calls"] == 0 and u["cost"] > 0  # the three failures cost 0


def test_a_timeout_is_its_own_cause(srv, keys, store, session_id, target_for):
    from workbench.llm.gateway import Gateway, GatewaySettings
    from workbench.store import metrics

    gw = Gateway(store, GatewaySettings(connect_timeout=1.0, read_timeout=0.4, max_retries=0))
    srv.script([Reply(fault="hang", hang_s=3)])
    with pytest.raises(ModelError):
        gw.complete(target_for("gemini"), MESSAGES, AgentContext(session_id, "spec"))
    (cause,) = [c for c in metrics.error_rates(store)["by_cause"] if c["source"] == "model"]
    assert cause["cause"] == "timeout"


def test_models_lists_the_steps_that_call_a_model(capsys, monkeypatch, tmp_path):
    import argparse

    from workbench.cli import models_cmd

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    models_cmd.run(argparse.Namespace(model=None, json=True))
    steps = json.loads(capsys.readouterr().out)["steps"]
    assert "tests" in steps and "monitor" not in steps
    assert {"analysis", "spec", "review", "implementation", "tests"} <= set(steps)
