"""The monitor's linters run beside its tests, each sandboxed: on a copy the tests
cannot reach, so what a test writes is never linted, and the results keep their order."""

from __future__ import annotations

from pathlib import Path

from workbench.integrate import monitor
from workbench.lifecycle.engine import Options
from workbench.safety.paths import write_file
from workbench.scaffold import apply_plan, render_plan
from workbench.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]

WRITER = '''"""A test that leaves unlinted, unformatted Python wherever it may write."""

import sys
from pathlib import Path

BAD = "import os\\ndef  f( ):\\n  return 1\\n"


def test_writes_where_it_can():
    for folder in (Path.cwd(), Path.cwd() / "src", Path(sys.prefix).parent):
        (folder / "zz_left_by_a_test.py").write_text(BAD)
    assert (Path.cwd() / "zz_left_by_a_test.py").exists()
'''


def test_what_the_tests_write_is_not_linted(tmp_path):
    spec = load_spec(ROOT / "tests" / "fixtures" / "csv2json.spec.md")
    root = tmp_path / "csv2json"
    apply_plan(render_plan(spec), root)
    write_file(root, "tests/test_writer.py", WRITER)
    lines: list[str] = []
    results = monitor.check_project(root, "python-cli", Options(allow_unsandboxed=True), lines.append)
    assert [r.kind for r in results] == ["install", "pytest", "ruff check", "ruff format"]
    assert all(r.exit_code == 0 for r in results), [(r.kind, r.output[-300:]) for r in results]
    assert "passed" in results[1].summary
    assert not (root / "zz_left_by_a_test.py").exists()  # the real tree was never theirs
    assert any("ruff" in line or "formatted" in line or "All checks passed" in line for line in lines)
