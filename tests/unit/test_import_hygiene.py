"""The core knows nothing about the UI and never loads LiteLLM on its own."""

from __future__ import annotations

import json
import subprocess
import sys

CORE = [
    "workbench",
    "workbench.errors",
    "workbench.paths",
    "workbench.identity",
    "workbench.spec",
    "workbench.lifecycle.steps",
    "workbench.lifecycle.events",
    "workbench.lifecycle.engine",
    "workbench.scaffold",
    "workbench.integrate.git",
    "workbench.integrate.ci",
    "workbench.integrate.monitor",
    "workbench.store",
    "workbench.safety.paths",
    "workbench.safety.redact",
    "workbench.safety.sandbox",
    "workbench.llm.base",
    "workbench.llm.offline",
    "workbench.config",
    "workbench.llm.registry",
]
FORBIDDEN = ("textual", "rich", "litellm")


def loaded_after(code: str) -> list[str]:
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_core_imports_no_ui_and_no_litellm():
    mods = loaded_after("\n".join(f"import {m}" for m in CORE))
    bad = [m for m in mods if m.split(".")[0] in FORBIDDEN]
    assert bad == [], f"core pulled in {bad[:5]}"


def test_version_path_imports_almost_nothing():
    mods = loaded_after("from workbench.cli.main import main\nmain(['--version'])")
    bad = [m for m in mods if m.split(".")[0] in FORBIDDEN + ("yaml", "jinja2", "git", "sqlite_utils")]
    assert bad == []
