"""A spec file that starts with a UTF-8 BOM, through the whole lifecycle: the project's
docs/spec.md is the approved spec byte for byte, so the sha256 recorded at approval and
in .workbench/manifest.json (spec_sha256) is the sha256 of docs/spec.md."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from workbench.lifecycle import events as ev
from workbench.lifecycle.engine import Engine, Options
from workbench.llm.offline import OfflineAgents
from workbench.spec import load_spec
from workbench.store import Store

FIXTURE = Path(__file__).parent.parent / "fixtures" / "csv2json.spec.md"


def test_a_bom_spec_is_docs_spec_md_byte_for_byte(tmp_path):
    spec_file = tmp_path / "spec.md"
    spec_file.write_bytes(b"\xef\xbb\xbf" + FIXTURE.read_bytes())
    approved = hashlib.sha256(spec_file.read_bytes()).hexdigest()
    # As `workbench new --spec FILE` hands it to the engine.
    spec_text = load_spec(spec_file).raw.decode("utf-8")

    store = Store(tmp_path / "home" / "workbench.db")
    engine = Engine(store, OfflineAgents("python-cli"), ev.ignore, Options(run_monitor=False))
    out = tmp_path / "csv2json"
    sid = engine.start("csv2json", out, spec_text=spec_text)
    gate = engine.run(sid)
    assert gate.gate == "spec" and gate.sha256 == approved
    engine.approve(sid, "spec", gate.sha256)
    plan_gate = engine.run(sid)
    assert plan_gate.gate == "plan"
    assert engine.plan(sid).files["docs/spec.md"].sha256 == approved
    engine.approve(sid, "plan", plan_gate.sha256)
    done = engine.run(sid)
    assert done.status == "done", done.message

    written = (out / "docs" / "spec.md").read_bytes()
    assert written == spec_file.read_bytes()
    manifest = json.loads((out / ".workbench" / "manifest.json").read_text("utf-8"))
    assert manifest["spec_sha256"] == approved == hashlib.sha256(written).hexdigest()
