"""The store is core: it never imports textual, rich or litellm (checked in a fresh process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CODE = """
import sys, tempfile, os
from workbench.store import Store
from workbench.store import metrics, learning
d = tempfile.mkdtemp()
s = Store(os.path.join(d, "wb.db"))
sid = s.create_session("r", d)
s.audit(sid, "human:a", "spec", "edit", "x", payload={"a": 1})
s.add_spec_version(sid, "---\\nname: x\\n---\\n", None, "draft", "agent:m")
s.add_approval(sid, "spec", s.get_spec_version(sid)["sha256"], "human:a")
metrics.compute(s); learning.recommendations(s); learning.similar_specs(s, "x")
s.verify_chain()
bad = sorted({m.split(".")[0] for m in sys.modules} & {"textual", "rich", "litellm"})
print(",".join(bad))
"""


def test_store_imports_no_ui_or_litellm():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=False, cwd=REPO,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_cli_modules_are_cheap_to_import():
    code = ("import sys; import workbench.cli.audit_cmd, workbench.cli.metrics_cmd; "
            "print(','.join(sorted(m for m in ('rich', 'sqlite_utils', 'workbench.store') "
            "if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=REPO,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
