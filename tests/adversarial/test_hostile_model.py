"""A hostile or careless model over the loopback server, through the real engine.

Each attack is a reply shape a real model (or a proxy in front of one) produces; the
safe outcome is asserted: a cut reply is never taken for a whole one, a fence never
corrupts the spec, valid output behind noisy prose is found, a fallback and a
malformed stream are said plainly. Every reply attack runs on the three wire formats.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

from tests.support.loopback import DEFAULT_SPEC, LoopbackLLM, Reply, lifecycle_responder  # noqa: E402

PROVIDERS = {"openai": ("gpt", "openai/gpt-4o"), "anthropic": ("claude", "anthropic/claude-sonnet-4-5"),
             "gemini": ("gemini", "gemini/gemini-2.5-pro")}
KEYS = {"OPENAI_API_KEY": "sk-SENTINEL-openai-0123456789abcdef",
        "ANTHROPIC_API_KEY": "sk-ant-SENTINEL-anthropic-0123456789",
        "GEMINI_API_KEY": "AIzaSENTINELgemini0123456789abcdefgh"}
FINDINGS = [{"severity": "warning", "location": "commands[0]", "text": "Say what an empty CSV gives.",
             "suggestion": "Add a requirement."}]


@pytest.fixture
def srv():
    with LoopbackLLM() as s:
        yield s


@pytest.fixture
def env(monkeypatch):
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)


@pytest.fixture
def store(tmp_path):
    from workbench.store import Store

    s = Store(tmp_path / "workbench.db")
    yield s
    s.close()


def engine_for(srv, store, provider: str, events=None, fallbacks: tuple[str, ...] = (), **steps):
    from workbench.config import Config, ModelConfig
    from workbench.lifecycle.engine import Engine, Options
    from workbench.llm.gateway import Gateway, GatewaySettings
    from workbench.llm.registry import ModelProvider

    models = {alias: ModelConfig(model, api_base=srv.api_base(p),
                                 fallbacks=fallbacks if p == provider else ())
              for p, (alias, model) in PROVIDERS.items()}
    gw = Gateway(store, GatewaySettings(connect_timeout=1.0, read_timeout=15.0, backoff_base=0.01))
    mp = ModelProvider(Config(models=models, steps=dict(steps)), PROVIDERS[provider][0], store=store,
                       gateway=gw, cross_review=False)
    return Engine(store, mp, (events.append if events is not None else (lambda e: None)),
                  Options(allow_unsandboxed=True, run_monitor=False))


def spec_reply(text: str):
    """A responder that answers the spec step with `text` and the rest as usual."""
    base = lifecycle_responder(findings=FINDINGS)

    def respond(req):
        return Reply(text=text) if req.step == "spec" else base(req)

    return respond


# -- 1. a reply cut short is never taken for a whole one ---------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("fault", ["cut", "truncate"])
def test_a_spec_cut_midway_is_never_approved(provider, fault, srv, env, store, tmp_path):
    base = lifecycle_responder(findings=FINDINGS)
    cut = Reply(fault=fault, text=f"```markdown\n{DEFAULT_SPEC}```\n", cut_at=0.6)
    srv.responder = lambda req: cut if req.step == "spec" else base(req)
    engine = engine_for(srv, store, provider)
    out = tmp_path / "out"
    sid = engine.start("Convert CSV files to JSON", out)
    outcome = engine.run(sid)
    assert outcome.status == "failed" and outcome.step == "spec" and outcome.exit_code == 1
    assert "stopped midway" in outcome.message and "nothing applied" in outcome.message
    assert store.get_spec_version(sid) is None  # nothing to approve, nothing to commit
    assert not out.exists()
    assert len(srv.requests_for(step="spec")) == 2  # one retry, then the clear failure


# -- 2. fences never corrupt the spec --------------------------------------------------------

BODY_WITH_FENCE = DEFAULT_SPEC.replace(
    "## Acceptance criteria\n",
    "## Acceptance criteria\n\n```bash\ncsv2json convert data.csv\n```\n"
    "- criterion two\n- criterion three\n- criterion four\n- criterion five\n- criterion six\n")
FENCE_SHAPES = {
    "remarks and a code block after the fence": (
        f"Here it is:\n\n```markdown\n{DEFAULT_SPEC}```\n\nRemarks: I chose `convert`.\n\n"
        "```python\nprint('an example, not the spec')\n```\n", DEFAULT_SPEC),
    "four backticks around a body with ```": (
        f"````markdown\n{BODY_WITH_FENCE}````\n", BODY_WITH_FENCE),
    "tildes, md info string": (f"~~~md\n{DEFAULT_SPEC}~~~\nThat is all.\n", DEFAULT_SPEC),
    "unfenced, prose after": (f"Sure!\n\n{DEFAULT_SPEC}\nLet me know if you want changes.\n", DEFAULT_SPEC),
    "unfenced, a rule then remarks": (f"{DEFAULT_SPEC}\n---\n\nI assumed UTF-8 input.\n", DEFAULT_SPEC),
    "a three-backtick fence with a nested ```bash block": (
        f"```markdown\n{BODY_WITH_FENCE}```\n", BODY_WITH_FENCE),
}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("shape", list(FENCE_SHAPES))
def test_fences_never_corrupt_the_spec(provider, shape, srv, env, store, tmp_path):
    reply, expected = FENCE_SHAPES[shape]
    srv.responder = spec_reply(reply)
    engine = engine_for(srv, store, provider)
    sid = engine.start("Convert CSV files to JSON", tmp_path / "out")
    outcome = engine.run(sid)
    assert outcome.status == "gate", outcome.message
    assert store.get_spec_version(sid)["text"] == expected
    assert len(srv.requests_for(step="spec")) == 1  # found at once, no re-ask needed


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_spec_cut_at_a_fence_is_not_the_whole_spec(provider, srv, env, store, tmp_path):
    """The body stops before its Acceptance criteria: re-asked, and never approved as is."""
    short = DEFAULT_SPEC.split("## Acceptance criteria")[0]
    srv.responder = spec_reply(f"```markdown\n{short}```\n")
    engine = engine_for(srv, store, provider)
    sid = engine.start("Convert CSV files to JSON", tmp_path / "out")
    outcome = engine.run(sid)
    assert outcome.status == "failed" and outcome.step == "spec"
    assert "Acceptance criteria" in outcome.message
    assert len(srv.requests_for(step="spec")) == 2
    # the near-valid draft is kept as a version to fix by hand, and the developer's fix goes on
    kept = store.get_spec_version(sid)
    assert kept["source"] == "rejected" and kept["text"] == short.rstrip() + "\n"
    engine.save_spec_edit(sid, DEFAULT_SPEC, actor="human:test")
    assert engine.run(sid).status == "gate"
    assert store.get_spec_version(sid)["text"] == DEFAULT_SPEC


# -- 3. findings behind prose with brackets --------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_findings_after_prose_with_brackets(provider, srv, env, store, tmp_path):
    base = lifecycle_responder()
    reply = ("Looking at commands[0]: the {name} field and [the options] are fine.\n"
             "[0] is an index, {not: json}.\n\n" + json.dumps({"findings": FINDINGS}) + "\nThanks.")

    def respond(req):
        return Reply(text=reply) if req.step == "review" else base(req)

    srv.responder = respond
    engine = engine_for(srv, store, provider)
    sid = engine.start("Convert CSV files to JSON", tmp_path / "out")
    assert engine.run(sid).status == "gate"
    assert [f["text"] for f in engine.findings(sid)] == [FINDINGS[0]["text"]]
    assert len(srv.requests_for(step="review")) == 1


# -- 4. a fence inside a file block ----------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_fence_wrapping_a_file_block_is_stripped(provider, srv, env, store, tmp_path):
    def files(current):
        return {p: f"```python\n# by the model\n{c}```\n" for p, c in current.items() if p.endswith(".py")}

    srv.responder = lifecycle_responder(files=files)
    engine = engine_for(srv, store, provider)
    sid = engine.start("Convert CSV files to JSON", tmp_path / "out")
    outcome = engine.run(sid)
    engine.approve(sid, outcome.gate, outcome.sha256, actor="human:test")
    engine.run(sid, until="implementation")
    written = json.loads(store.get_output(sid, "implementation", "files"))
    assert written and all(c.startswith("# by the model\n") and "```" not in c for c in written.values())


# -- 5. a fallback is said -------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_a_fallback_is_said_and_paid_to_the_model_that_answered(provider, srv, env, store, tmp_path):
    events = []
    srv.responder = lifecycle_responder(findings=FINDINGS)
    alias = PROVIDERS[provider][0]
    srv.script([Reply(status=500)] * 3)  # the analysis call fails three times on the primary
    engine = engine_for(srv, store, provider, events, fallbacks=("gemini",))
    sid = engine.start("Convert CSV files to JSON", tmp_path / "out")
    assert engine.run(sid).status == "gate"
    note = f"{alias} failed (HTTP 500 ×3); answered by gemini"
    (done,) = [e for e in events if e.kind == "step_done" and e.step == "analysis"]
    assert note in done.message
    assert any(e.kind == "step_progress" and "retrying in" in e.message for e in events)
    (audit,) = store.list_events(session=sid, action="model_fallback", limit=5)
    assert audit["summary"] == note
    step_done = store.list_events(session=sid, action="step_done", step="analysis", limit=5)[0]
    assert step_done["tokens"] and step_done["cost"] is not None and step_done["cost"] > 0
    calls = [c for c in store.list_model_calls(sid) if c["step"] == "analysis"]
    assert [c["cost"] for c in calls[:3]] == [0, 0, 0]
    assert calls[3]["model"] == "gemini/gemini-2.5-pro" and calls[3]["cost"] == step_done["cost"]


# -- 6. a malformed stream is named ----------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_malformed_stream_is_named(provider, srv, env, store, tmp_path):
    srv.script([Reply(fault="malformed", text="## Request, restated\n\nA converter.\n")])
    engine = engine_for(srv, store, provider)
    sid = engine.start("Convert CSV files to JSON", tmp_path / "out")
    outcome = engine.run(sid)
    assert outcome.status == "failed" and outcome.step == "analysis"
    msg = outcome.message
    assert "malformed stream" in msg and PROVIDERS[provider][1] in msg
    assert "connection failed" not in msg and "Traceback" not in msg and "\n" not in msg
    assert len(srv.requests) == 1
