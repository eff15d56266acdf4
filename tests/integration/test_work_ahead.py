"""Work done ahead, in the background: actionlint while the model writes code, the
monitor's install while the project is committed. It must save time without changing
a verdict: a file or a project that changed in between is judged again."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from workbench.errors import StepFailed
from workbench.integrate import ci, monitor
from workbench.lifecycle.engine import Options
from workbench.scaffold import apply_plan, render_plan
from workbench.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = """name: CI
on:
  push:
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo {marker}
"""


def workflow() -> str:
    return WORKFLOW.format(marker=uuid.uuid4().hex)  # new content: no verdict cached yet


class Plan:
    def __init__(self, files: dict[str, str]):
        self.files = {p: type("F", (), {"content": c})() for p, c in files.items()}


@pytest.fixture
def fake_actionlint(monkeypatch):
    """actionlint replaced by a slow, counting fake (the real one is tested elsewhere)."""
    calls: list[list[str]] = []
    script: dict = {"fail_first": False, "verdict": ""}

    def lint_run(_cmd, todo):
        calls.append(sorted(todo))
        time.sleep(0.3)
        if script["fail_first"] and len(calls) == 1:
            raise OSError("actionlint crashed")
        return {p: script["verdict"] for p in todo}

    monkeypatch.setattr(ci, "actionlint_command", lambda: ["actionlint"])
    monkeypatch.setattr(ci, "_lint_run", lint_run)
    return calls, script


def test_a_step_waits_for_the_lint_in_flight_instead_of_running_it_twice(fake_actionlint):
    calls, script = fake_actionlint
    script["verdict"] = "1:1: a real complaint"
    files = {".github/workflows/ci.yml": workflow(), ".github/workflows/release.yml": workflow()}
    thread = ci.prevalidate(Plan(files))
    assert thread is not None
    time.sleep(0.05)  # the background run is in flight
    with pytest.raises(StepFailed) as exc:
        ci.validate_files({".github/workflows/ci.yml": files[".github/workflows/ci.yml"]}, "cicd")
    assert "actionlint: .github/workflows/ci.yml:1:1: a real complaint" in str(exc.value)
    thread.join(5)
    assert len(calls) == 1  # one run served both


def test_a_failed_background_lint_is_run_again_not_taken_as_clean(fake_actionlint):
    calls, script = fake_actionlint
    script.update(fail_first=True, verdict="2:3: still wrong")
    content = workflow()
    ci.prevalidate(Plan({".github/workflows/ci.yml": content}))
    time.sleep(0.05)
    with pytest.raises(StepFailed, match="still wrong"):
        ci.validate_files({".github/workflows/ci.yml": content}, "cicd")
    assert len(calls) == 2


def test_a_workflow_changed_after_the_background_lint_is_linted_again(fake_actionlint):
    calls, _script = fake_actionlint
    first = workflow()
    ci.prevalidate(Plan({".github/workflows/ci.yml": first})).join(5)
    ci.validate_files({".github/workflows/ci.yml": first}, "cicd")
    assert len(calls) == 1
    ci.validate_files({".github/workflows/ci.yml": workflow()}, "cicd")
    assert len(calls) == 2


@pytest.fixture
def project(tmp_path) -> Path:
    spec = load_spec(ROOT / "tests" / "fixtures" / "csv2json.spec.md")
    root = tmp_path / "csv2json"
    apply_plan(render_plan(spec), root)
    return root


OPTIONS = Options(allow_unsandboxed=True)


def test_the_monitor_uses_the_install_done_ahead(project):
    prepared = monitor.prepare_in_background(project, OPTIONS).result(timeout=300)
    venv = Path(prepared.tmp.name)
    assert prepared.install.exit_code == 0 and venv.is_dir()
    lines: list[str] = []
    results = monitor.check_project(project, "python-cli", OPTIONS, lines.append, prepared=prepared)
    assert results[0] is prepared.install
    assert [r.kind for r in results][:2] == ["install", "pytest"] and all(r.exit_code == 0 for r in results)
    assert any("done ahead" in line for line in lines)
    assert not venv.exists()  # cleaned up after the checks


def test_packaging_changed_after_the_install_means_installing_again(project):
    prepared = monitor.prepare_python(project, OPTIONS)
    venv = Path(prepared.tmp.name)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    assert 'description = "' in text
    pyproject.write_text(text.replace('description = "', 'description = "Now: ', 1))
    results = monitor.check_project(project, "python-cli", OPTIONS, prepared=prepared)
    assert results[0] is not prepared.install and results[0].exit_code == 0
    assert not venv.exists()
    assert all(r.exit_code == 0 for r in results)


def test_the_fingerprint_sees_packaging_and_new_packages_not_module_edits(project):
    before = monitor.install_fingerprint(project)
    pkg = next(p for p in (project / "src").iterdir() if p.is_dir())
    (pkg / "cli.py").write_text((pkg / "cli.py").read_text() + "\n# an edit\n")
    assert monitor.install_fingerprint(project) == before  # editable: seen at import time
    (project / "src" / "another").mkdir()
    assert monitor.install_fingerprint(project) != before


def test_an_install_nobody_takes_is_cleaned_up(project):
    future = monitor.prepare_in_background(project, OPTIONS)
    monitor.discard(future)
    prepared = future.result(timeout=300)
    deadline = time.monotonic() + 10
    while Path(prepared.tmp.name).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(prepared.tmp.name).exists()


def test_the_install_started_from_the_plan_is_kept_after_the_apply(tmp_path):
    from workbench.lifecycle.checks import WorkAhead

    spec = load_spec(ROOT / "tests" / "fixtures" / "csv2json.spec.md")
    plan = render_plan(spec)
    ahead = WorkAhead(OPTIONS)
    ahead.start_plan("s1", plan, spec)  # the tests step: nothing is on disk yet
    started = ahead._futures["s1"]
    root = tmp_path / "csv2json"
    apply_plan(plan, root)
    ahead.start("s1", root, spec)  # the apply: the same packaging, the install goes on
    assert ahead._futures["s1"] is started
    prepared = ahead.take("s1")
    assert prepared is not None and prepared.install.exit_code == 0
    results = monitor.check_project(root, "python-cli", OPTIONS, prepared=prepared)
    assert results[0] is prepared.install and all(r.exit_code == 0 for r in results)


def test_packaging_changed_after_the_plan_install_installs_from_the_tree(tmp_path):
    from workbench.lifecycle.checks import WorkAhead

    spec = load_spec(ROOT / "tests" / "fixtures" / "csv2json.spec.md")
    plan = render_plan(spec)
    ahead = WorkAhead(OPTIONS)
    ahead.start_plan("s1", plan, spec)
    started = ahead._futures["s1"]
    root = tmp_path / "csv2json"
    apply_plan(plan, root)
    (root / "src" / "another").mkdir()  # a new top-level package: the install must see it
    ahead.start("s1", root, spec)
    assert ahead._futures["s1"] is not started
    assert ahead._futures["s1"].fingerprint == monitor.install_fingerprint(root)
    ahead.close()
    prepared = started.result(timeout=300)
    deadline = time.monotonic() + 10
    while Path(prepared.tmp.name).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(prepared.tmp.name).exists()  # the superseded one is dropped
