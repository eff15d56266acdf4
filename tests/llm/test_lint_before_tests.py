"""Model-owned files are formatted and safe-fixed before the tests step; lint that is
left goes to the repair loop, and fails the step before apply naming file:line:rule."""

from __future__ import annotations

import dataclasses
import json

from tests.support.loopback import lifecycle_responder

COMMANDS = "src/csv2json/commands.py"


def _plan_with(content: str | None = None):
    from tests.llm.test_agents import SPEC
    from workbench.scaffold import render_plan
    from workbench.spec import parse_spec

    plan = render_plan(parse_spec(SPEC))
    if content is not None:
        plan.files[COMMANDS] = dataclasses.replace(plan.files[COMMANDS], content=content)
    return plan


def test_tidy_formats_fixes_and_names_what_is_left():
    from workbench.integrate import lint

    clean = lint.tidy(_plan_with())  # the template's own files are ruff-clean as they are
    assert clean.failure is None and clean.changed == {} and clean.error is None
    t = lint.tidy(_plan_with("import os\nimport sys\ndef run( a ):\n  return undefined_name\n"))
    assert t.changed[COMMANDS] == "def run(a):\n    return undefined_name\n"  # format + safe fixes
    assert t.issues == [f"{COMMANDS}:2:12: F821 Undefined name `undefined_name`"]
    assert t.failure.summary == f"lint: {COMMANDS}:2:12: F821 Undefined name `undefined_name`"
    assert COMMANDS in t.failure.output


def test_tidy_with_nothing_to_fix_reports_the_check_it_ran():
    from workbench.integrate import lint

    # formatted, nothing ruff can fix: one format and one check, whose verdict is final
    t = lint.tidy(_plan_with("def run(a):\n    print(a)\n    return undefined_name\n"))
    assert t.changed == {}
    assert t.issues == [f"{COMMANDS}:3:12: F821 Undefined name `undefined_name`"]
    # formatting alone (nothing fixed) moves the column the check names
    t = lint.tidy(_plan_with("def run(a):\n    return undefined_name(\n        a\n    )\n"))
    assert t.changed[COMMANDS] == "def run(a):\n    return undefined_name(a)\n"
    assert t.issues == [f"{COMMANDS}:2:12: F821 Undefined name `undefined_name`"]


def _engine(srv, store, files):
    from workbench.config import Config, ModelConfig
    from workbench.lifecycle.engine import Engine, Options
    from workbench.llm.registry import ModelProvider

    srv.responder = lifecycle_responder(files=files)
    cfg = Config(models={"gpt": ModelConfig("openai/gpt-4o", api_base=srv.api_base("openai"))})
    mp = ModelProvider(cfg, "gpt", store=store, cross_review=False)
    return Engine(store, mp, options=Options(allow_unsandboxed=True, run_monitor=False))


def _to_tests(engine, store, sid):
    outcome = engine.run(sid)
    engine.approve(sid, outcome.gate, outcome.sha256, actor="human:test")
    return engine.run(sid, until="tests")


def test_lint_left_goes_to_repair_and_formatting_is_silent(srv, keys, store, tmp_path):
    original = []

    def files(current):
        if not original:  # the implementation: an undefined name, badly formatted
            original.append(current[COMMANDS])
            return {COMMANDS: "import os\n" + original[0].replace("def ", "def  ", 1) + "\nX = undefined_name\n"}
        return {COMMANDS: "import os\n" + original[0]}  # the repair: an unused import ruff removes

    engine = _engine(srv, store, files)
    sid = engine.start("Convert CSV files to JSON", tmp_path / "out")
    outcome = _to_tests(engine, store, sid)
    assert outcome.status == "paused", outcome.message
    repair = [r for r in srv.requests if r.step == "tests"]
    assert len(repair) == 1 and "F821" in repair[0].last_user_text()
    final = json.loads(store.get_output(sid, "implementation", "files"))[COMMANDS]
    assert "import os" not in final and "def  " not in final


def test_lint_never_fixed_fails_before_apply_naming_file_line_rule(srv, keys, store, tmp_path):
    def files(current):
        return {COMMANDS: current[COMMANDS] + "\nX = undefined_name\n"}

    engine = _engine(srv, store, files)
    out = tmp_path / "out"
    sid = engine.start("Convert CSV files to JSON", out)
    outcome = _to_tests(engine, store, sid)
    assert outcome.status == "failed" and outcome.step == "tests"
    assert f"{COMMANDS}:" in outcome.message and "F821" in outcome.message
    assert not out.exists()  # nothing applied

