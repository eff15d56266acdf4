"""Dead ends a model can leave, and the ways out: `workbench show SID files | tests |
rejected`, and a Reviewer that never answers in JSON (another model, or go on without)."""

from __future__ import annotations

import json

import pytest

from tests.support.loopback import lifecycle_responder


@pytest.fixture
def home(tmp_path, monkeypatch, srv, keys):
    h = tmp_path / "home"
    h.mkdir()
    (h / "config.toml").write_text(
        f'[workbench]\ndefault_model = "gpt"\n\n[models.gpt]\nmodel = "openai/gpt-4o"\n'
        f'api_base = "{srv.api_base("openai")}"\n\n[steps]\nreview = "gpt"\n', encoding="utf-8")
    monkeypatch.setenv("WORKBENCH_HOME", str(h))
    return h


def _new(tmp_path, capsys):
    from workbench.cli.main import main

    code = main(["new", "Convert CSV files to JSON", "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    sid = next(w for w in out.split() if len(w) == 32)
    return code, sid, out, err


def test_a_reviewer_that_never_answers_in_json(home, srv, tmp_path, capsys):
    from workbench.cli.main import main
    from workbench.paths import db_path
    from workbench.store import Store

    base = lifecycle_responder()
    srv.responder = lambda req: ("I think the spec is fine overall [mostly]." if req.step == "review"
                                 else base(req))
    code, sid, out, err = _new(tmp_path, capsys)
    assert code == 1
    assert "step review failed" in err and "invalid findings JSON after one re-ask" in err
    assert f"workbench show {sid[:12]} rejected" in err and "--no-review" in err
    assert "[steps] review" in err

    assert main(["show", sid[:12], "rejected"]) == 0
    shown = capsys.readouterr().out
    assert shown.count("I think the spec is fine overall [mostly].") == 2  # both attempts, raw
    assert "review: findings JSON from openai/gpt-4o, attempt 1" in shown

    assert main(["resume", sid[:12], "--no-review"]) == 3  # on to the spec gate
    out = capsys.readouterr().out
    assert "stopped at the spec gate" in out
    with Store(db_path()) as store:
        (skipped,) = store.list_events(session=sid, action="review_skipped", limit=5)
        assert skipped["actor"].startswith("human:")
        (review,) = store.list_events(session=sid, action="review", limit=5)
        assert "skipped by the developer" in review["payload"]["model"]


def test_show_files_and_tests(home, srv, tmp_path, capsys):
    from workbench.cli.main import main

    def files(current):
        return {p: f"# by the model\n{c}" for p, c in current.items() if p.endswith(".py")}

    srv.responder = lifecycle_responder(files=files)
    code, sid, *_ = _new(tmp_path, capsys)
    assert code == 3
    assert main(["show", sid[:12], "files"]) == 2  # nothing written yet: a usage error
    capsys.readouterr()
    from workbench.lifecycle.engine import Engine, Options
    from workbench.llm import registry
    from workbench.paths import db_path
    from workbench.store import Store

    with Store(db_path()) as store:
        engine = Engine(store, registry.build_provider(store=store),
                        options=Options(allow_unsandboxed=True, run_monitor=False))
        engine.approve(sid, "spec", store.get_spec_version(sid)["sha256"], actor="human:test")
        engine.run(sid, until="tests")
        written = json.loads(store.get_output(sid, "implementation", "files"))
    assert main(["show", sid[:12], "files"]) == 0
    shown = capsys.readouterr().out
    for path in written:
        assert f"=== {path} (" in shown
    assert shown.count("# by the model") == len(written)
    assert main(["show", sid[:12], "tests"]) == 0
    assert "=== tests tests:" in capsys.readouterr().out
