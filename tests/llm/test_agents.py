"""ModelAgents: structured outputs, re-asks and rejections, over the loopback server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.loopback import Reply
from workbench.llm.agents import (
    ModelAgents,
    ModelOutputError,
    extract_spec,
    parse_files,
    render_prompt,
)
from workbench.llm.base import AgentContext, Finding

SPEC = (Path(__file__).resolve().parents[1] / "fixtures" / "csv2json.spec.md").read_text()
BAD_SPEC = SPEC.replace("name: csv2json ", "name: CSV_2_JSON ")
FILES = {"src/csv2json/commands.py": "def convert(args):\n    raise NotImplementedError\n",
         "tests/test_commands.py": "def test_placeholder():\n    pass\n"}


@pytest.fixture
def agents(srv, keys, gateway, target_for):
    def make(provider="anthropic"):
        return ModelAgents(target_for(provider), gateway)

    return make


def ctx(session_id, step):
    return AgentContext(session_id, step)


def blocks(files: dict[str, str]) -> str:
    return "".join(f"<<<FILE {p}>>>\n{c}<<<END>>>\n" for p, c in files.items())


# -- pure parsing ----------------------------------------------------------------------------


def test_extract_spec_tolerates_prose_and_fences():
    fenced = f"Here is the spec you asked for:\n\n```markdown\n{SPEC}```\n\nLet me know!"
    assert extract_spec(fenced) == SPEC
    assert extract_spec(SPEC) == SPEC
    assert extract_spec("Notes\n---\nA rule above, then:\n\n" + SPEC) == SPEC
    with_inner_fence = SPEC + "\n```bash\ncsv2json convert a.csv\n```\n"
    assert extract_spec("Sure.\n```md\n" + with_inner_fence + "```\nDone.") == with_inner_fence


def test_parse_files_rejects_escapes_and_unowned():
    text = blocks({"src/csv2json/commands.py": "x = 1\n", "../../x": "evil\n",
                   "pyproject.toml": "[project]\n", "/etc/passwd": "root\n"})
    ok, rejected = parse_files(text, FILES)
    assert ok == {"src/csv2json/commands.py": "x = 1\n"}
    reasons = {r["path"]: r["reason"] for r in rejected}
    assert "leaves the project" in reasons["../../x"]
    assert "leaves the project" in reasons["/etc/passwd"]
    assert reasons["pyproject.toml"] == "not a model-owned file"


def test_prompts_render_strictly():
    import jinja2

    text = render_prompt("reviewer", severities=["error", "warning", "info"], spec_contract="C")
    assert "findings" in text
    with pytest.raises(jinja2.UndefinedError):
        render_prompt("reviewer", severities=["error"])  # spec_contract missing
    for role, kw in [("infrastructure", {"task": "cicd"}), ("learning", {})]:
        assert "Workbench" in render_prompt(role, **kw)


# -- over the wire ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_draft_spec_through_each_provider(provider, agents, srv, session_id):
    srv.script([f"Sure! Here it is:\n```markdown\n{SPEC}```\nAnything else?"])
    text = agents(provider).draft_spec(ctx(session_id, "spec"), "Convert CSV files to JSON", "analysis", [])
    assert text == SPEC
    (req,) = srv.requests
    assert req.provider == provider and req.step == "spec"
    assert "Tool Builder" in req.prompt_text() and "Convert CSV files to JSON" in req.prompt_text()


def test_invalid_spec_gets_one_reask_quoting_the_error(agents, srv, store, session_id):
    srv.script([BAD_SPEC, SPEC])
    c = ctx(session_id, "spec")
    text = agents("openai").draft_spec(c, "csv to json", "", [SPEC])
    assert text == SPEC
    assert len(srv.requests) == 2
    reask = srv.requests[1].last_user_text()
    assert "not a valid spec" in reask and "name" in reask and "spec.md:" in reask
    (report,) = c.reports  # reported for the engine to audit, never written by the agent
    assert report.action == "model_output_invalid" and "name" in report.payload["error"]
    assert report.reply["reply"] == BAD_SPEC and report.reply["attempt"] == 1
    assert store.list_events(session_id=session_id, action="model_output_invalid") == []


def test_spec_invalid_twice_fails_clearly(agents, srv, session_id):
    srv.script([BAD_SPEC, "I cannot do that."])
    with pytest.raises(ModelOutputError) as info:
        agents("gemini").draft_spec(ctx(session_id, "spec"), "csv to json", "", [])
    msg = str(info.value)
    assert "\n" not in msg and "gemini/gemini-2.5-pro" in msg and "after one re-ask" in msg
    assert len(srv.requests) == 2


def test_review_malformed_json_then_valid(agents, srv, session_id):
    good = {"findings": [{"severity": "warning", "location": "commands[0].options[0]",
                          "text": "indent should accept 0", "suggestion": "allow 0"}]}
    srv.script(['{"findings": [ {"severity": "warning", ', "```json\n" + json.dumps(good) + "\n```"])
    findings = agents("anthropic").review(ctx(session_id, "review"), SPEC)
    assert findings == [Finding("warning", "commands[0].options[0]", "indent should accept 0", "allow 0",
                                "reviewer")]
    assert "invalid JSON" in srv.requests[1].last_user_text()


def test_review_schema_violation_then_failure(agents, srv, session_id):
    bad = json.dumps({"findings": [{"severity": "catastrophic", "location": "name", "text": "x"}]})
    srv.script([bad, bad])
    with pytest.raises(ModelOutputError) as info:
        agents("openai").review(ctx(session_id, "review"), SPEC)
    assert "findings/0/severity" in str(info.value)
    assert "findings/0/severity" in srv.requests[1].last_user_text()


def test_review_empty_list_is_fine(agents, srv, session_id):
    srv.script(['{"findings": []}'])
    assert agents("gemini").review(ctx(session_id, "review"), SPEC) == []


def test_implement_returns_only_model_owned_files(agents, srv, session_id):
    new = {"src/csv2json/commands.py": "def convert(args):\n    return 0\n"}
    srv.script([blocks(new)])
    out = agents("anthropic").implement(ctx(session_id, "implementation"), SPEC, FILES)
    assert out == {**FILES, **new}
    prompt = srv.requests[0].prompt_text()
    assert "<<<FILE src/csv2json/commands.py>>>" in prompt and "raise NotImplementedError" in prompt


@pytest.mark.parametrize("bad_path", ["../../x", "pyproject.toml"])
def test_implement_rejects_and_records_bad_paths(bad_path, agents, srv, store, session_id):
    evil = {bad_path: "pwned\n", "src/csv2json/commands.py": "x = 1\n"}
    srv.script([blocks(evil), blocks(evil)])
    a = agents("openai")
    c = ctx(session_id, "implementation")
    with pytest.raises(ModelOutputError) as info:
        a.implement(c, SPEC, FILES)
    assert bad_path in str(info.value) and "nothing was written" in str(info.value)
    assert [r["path"] for r in a.rejections] == [bad_path, bad_path]
    assert [r.action for r in c.reports] == ["model_output_invalid", "model_output_rejected"]
    assert all(bad_path in json.dumps(r.payload["rejected"]) for r in c.reports)
    assert store.list_events(session_id=session_id) == []  # the engine audits, not the agent


def test_the_engine_audits_what_the_agents_report(agents, srv, store, session_id):
    from workbench.lifecycle.engine import Engine

    evil = {"../../x": "pwned\n"}
    srv.script([blocks(evil), blocks(evil)])
    engine = Engine(store, agents("openai"))
    with pytest.raises(ModelOutputError):
        agents("openai").implement(engine.ctx(session_id, "implementation"), SPEC, FILES)
    events = store.list_events(session_id=session_id, action=["model_output_invalid", "model_output_rejected"])
    assert sorted(e["action"] for e in events) == ["model_output_invalid", "model_output_rejected"]
    assert all(e["actor"] == "agent:tool_builder" and "../../x" in json.dumps(e) for e in events)
    kept = [o for o in store.list_outputs(session_id) if o["kind"] == "rejected"]
    assert len(kept) == 2


def test_implement_bad_path_then_good_answer(agents, srv, session_id):
    good = {"tests/test_commands.py": "def test_it():\n    assert True\n"}
    srv.script([blocks({"../../x": "evil\n"}), blocks(good)])
    out = agents("gemini").implement(ctx(session_id, "implementation"), SPEC, FILES)
    assert out["tests/test_commands.py"] == good["tests/test_commands.py"]
    assert "../../x" not in out
    assert "../../x" in srv.requests[1].last_user_text()


def test_repair_sends_the_failure(agents, srv, session_id):
    fixed = {"src/csv2json/commands.py": "def convert(args):\n    return 1\n"}
    srv.script([blocks(fixed)])
    out = agents("openai").repair(ctx(session_id, "tests"), SPEC, FILES, "FAILED test_convert - AssertionError")
    assert out["src/csv2json/commands.py"] == fixed["src/csv2json/commands.py"]
    assert "FAILED test_convert" in srv.requests[0].prompt_text()
    assert srv.requests[0].step == "tests"


def test_incomplete_stream_fails_the_step_without_output(agents, srv, session_id):
    from workbench.llm.gateway import ModelIncomplete

    srv.script([Reply(fault="truncate", text=SPEC), Reply(fault="cut", text=SPEC)])
    with pytest.raises(ModelIncomplete) as info:
        agents("anthropic").draft_spec(ctx(session_id, "spec"), "csv to json", "", [])
    assert info.value.partial and SPEC.startswith(info.value.partial)


def test_lifecycle_responder_plays_every_agent_step(srv, agents, session_id):
    from tests.support.loopback import DEFAULT_SPEC, lifecycle_responder

    srv.responder = lifecycle_responder()
    a = agents("gemini")
    assert "Assumptions" in a.analyse(ctx(session_id, "analysis"), "csv to json", "")
    assert a.draft_spec(ctx(session_id, "spec"), "csv to json", "", []) == DEFAULT_SPEC
    assert a.review(ctx(session_id, "review"), DEFAULT_SPEC)[0].severity == "info"
    assert a.implement(ctx(session_id, "implementation"), DEFAULT_SPEC, FILES) == FILES
    assert [r.step for r in srv.requests] == ["analysis", "spec", "review", "implementation"]


# -- fences, JSON and file blocks as models really send them ----------------------------------


def test_extract_spec_by_commonmark_fence_rules():
    from workbench.llm.agents import missing_sections

    body_fence = SPEC + "\n```bash\ncsv2json convert a.csv\n```\n\n- last criterion\n"
    assert extract_spec(f"````markdown\n{body_fence}````\n") == body_fence
    after = f"```markdown\n{SPEC}```\n\nRemarks on it.\n\n```python\nprint(1)\n```\n"
    assert extract_spec(after) == SPEC
    import textwrap

    indented = textwrap.indent(f"```\n{SPEC}```\n", "  ")  # an indented fence, no info string
    assert extract_spec("1. The spec:\n\n" + indented) == SPEC
    assert extract_spec(f"```yaml\nname: x\n```\n\n{SPEC}\nHope this helps!\n") == SPEC
    assert extract_spec(SPEC + "\n***\n\nI assumed UTF-8.\n") == SPEC
    # a body ending in a paragraph of its own keeps it
    own = SPEC + "\nThe tool never writes outside the current directory.\n"
    assert extract_spec(own) == own
    assert missing_sections(SPEC.split("## Acceptance")[0]) == ["Acceptance criteria"]


def test_extract_json_finds_the_first_value_that_validates():
    from workbench.llm.agents import InvalidOutput, extract_json, validate_findings

    good = {"findings": [{"severity": "info", "location": "body", "text": "fine"}]}
    noisy = f"In commands[0]: the {{name}} is [1, 2] ok; [] too.\n{json.dumps(good)}\n{{trailing}}"
    assert [f.text for f in extract_json(noisy, accept=validate_findings)] == ["fine"]
    bad = {"findings": [{"severity": "fatal", "location": "body", "text": "x"}]}
    with pytest.raises(InvalidOutput) as info:
        extract_json(f"see [0]: {json.dumps(bad)}", accept=validate_findings)
    assert "severity" in str(info.value)  # the object's schema error, not the [0]'s


def test_a_fence_wrapping_a_whole_file_block_is_stripped():
    from workbench.llm.agents import unwrap_fence

    text = blocks({"src/csv2json/commands.py": "```python\ndef convert(args):\n    return 0\n```\n"})
    ok, rejected = parse_files(text, FILES)
    assert ok == {"src/csv2json/commands.py": "def convert(args):\n    return 0\n"} and not rejected
    two = "```python\na = 1\n```\ntext\n```python\nb = 2\n```\n"
    assert unwrap_fence(two, "x.py") == two  # two blocks, not one wrapping the file
    assert unwrap_fence("```\n# Title\n```\n", "README.md") == "```\n# Title\n```\n"
    assert unwrap_fence("x = 1\n", "a.py") == "x = 1\n"
