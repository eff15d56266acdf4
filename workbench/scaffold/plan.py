"""Rendering a template into an in-memory Plan that can be previewed before anything is written."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from workbench.errors import WorkbenchError
from workbench.safety.paths import UnsafePath, check_relative
from workbench.scaffold.context import build_context
from workbench.scaffold.filters import FILTERS
from workbench.scaffold.templates import (
    FILE_STEPS,
    Manifest,
    TemplateError,
    get_manifest,
    template_ids,
)
from workbench.spec import Spec, validate

MODE_FILE = 0o644
MODE_EXEC = 0o755
ORIGIN_MODEL = "model"


class OverrideError(WorkbenchError):
    """An override the template does not allow (not model-owned, unknown, or unsafe)."""

    exit_code = 1

    def __init__(self, path: str, reason: str):
        super().__init__(f"refused override of {path!r}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class PlannedFile:
    path: str  # project-relative, POSIX
    content: str
    step: str
    origin: str  # "template:<id>/<src>" or "model"
    model_owned: bool
    mode: int = MODE_FILE

    @property
    def size(self) -> int:
        return len(self.content.encode("utf-8"))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode("utf-8")).hexdigest()


@dataclass
class Plan:
    files: dict[str, PlannedFile] = field(default_factory=dict)
    template: str = ""

    @property
    def sha256(self) -> str:
        """Identifies the plan: stable over paths, contents and modes (not origins)."""
        h = hashlib.sha256()
        for path in sorted(self.files):
            f = self.files[path]
            h.update(path.encode("utf-8") + b"\0")
            h.update(f"{f.mode:o}".encode() + b"\0")
            h.update(f.sha256.encode() + b"\n")
        return h.hexdigest()

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files.values())

    def model_owned(self) -> list[PlannedFile]:
        """The files the implementation step may write, in plan order."""
        return [f for f in self.files.values() if f.model_owned]

    def for_steps(self, steps: Iterable[str]) -> Plan:
        wanted = set(steps)
        return Plan({p: f for p, f in self.files.items() if f.step in wanted}, self.template)

    def paths(self) -> list[str]:
        return list(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self):
        return iter(self.files.values())


def make_environment(loader: jinja2.BaseLoader | None = None) -> ImmutableSandboxedEnvironment:
    """The sandboxed environment templates render in: undefined variables are errors."""
    env = ImmutableSandboxedEnvironment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


_ENVIRONMENTS: dict[str, ImmutableSandboxedEnvironment] = {}


def _environment_for(manifest: Manifest) -> ImmutableSandboxedEnvironment:
    """One environment per template directory, so compiled templates are reused
    (the loader still notices a changed file and recompiles it)."""
    key = str(manifest.files_dir)
    env = _ENVIRONMENTS.get(key)
    if env is None:
        env = make_environment(jinja2.FileSystemLoader(key))
        _ENVIRONMENTS[key] = env
    return env


_COMPILED: dict[tuple[int, str, str], object] = {}


def _compiled(env: ImmutableSandboxedEnvironment, kind: str, source: str):
    """A manifest's `dest` template or `when` expression, compiled once per environment
    (Jinja caches file templates, not strings: compiling them was most of a render)."""
    key = (id(env), kind, source)
    fn = _COMPILED.get(key)
    if fn is None:
        if kind == "when":
            fn = env.compile_expression(source, undefined_to_none=False)
        else:
            fn = env.from_string(source)
        _COMPILED[key] = fn
    return fn


def _check_steps(steps: Iterable[str] | None) -> set[str] | None:
    if steps is None:
        return None
    wanted = set(steps)
    unknown = wanted - set(FILE_STEPS)
    if unknown:
        raise WorkbenchError(
            f"unknown scaffold step(s) {', '.join(sorted(unknown))} "
            f"(expected: {', '.join(FILE_STEPS)})"
        )
    return wanted


def render_plan(
    spec: Spec,
    steps: Iterable[str] | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Plan:
    """Render the spec's template into a Plan (nothing is written).

    `steps` limits the plan to files of those steps (None: all). `overrides` maps
    project paths to contents that replace model-owned files (the implementation
    step's output); anything else raises OverrideError.
    """
    wanted = _check_steps(steps)
    ids = template_ids()
    validate(spec, ids)
    manifest = get_manifest(spec.template)
    context = build_context(spec, manifest.id)
    env = _environment_for(manifest)

    entries = []
    for entry in manifest.files:
        if entry.when is not None:
            try:
                included = _compiled(env, "when", entry.when)(**context)
            except jinja2.TemplateError as exc:
                raise TemplateError(f"{manifest.id}: {entry.src}: when {entry.when!r}: {exc}") from None
            if not included:
                continue
        try:
            dest = _compiled(env, "dest", entry.dest).render(context)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"{manifest.id}: {entry.src}: dest {entry.dest!r}: {exc}") from None
        try:
            check_relative(dest)
        except UnsafePath as exc:
            raise TemplateError(f"{manifest.id}: {entry.src}: {exc}") from None
        entries.append((entry, dest))

    owned_paths = [dest for entry, dest in entries if entry.model_owned]
    context["model_owned_files"] = owned_paths
    context["files"] = [dest for _, dest in entries]
    context["placeholder_commands"] = _placeholder_commands(context["commands"], entries, overrides)

    files: dict[str, PlannedFile] = {}
    for entry, dest in entries:
        if dest in files:
            raise TemplateError(f"{manifest.id}: two files render to {dest!r}")
        try:
            content = env.get_template(entry.src).render(context)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"{manifest.id}: {entry.src}: {type(exc).__name__}: {exc}") from None
        _check_encodable(dest, content)
        files[dest] = PlannedFile(
            path=dest,
            content=content,
            step=entry.step,
            origin=f"template:{manifest.id}/{entry.src}",
            model_owned=entry.model_owned,
            mode=MODE_EXEC if entry.executable else MODE_FILE,
        )

    for path, content in (overrides or {}).items():
        try:
            norm = str(check_relative(path))
        except UnsafePath as exc:
            raise OverrideError(str(path), exc.message) from None
        target = files.get(norm)
        if target is None:
            raise OverrideError(
                norm,
                "not a file of this template (model-owned files: " + ", ".join(owned_paths) + ")",
            )
        if not target.model_owned:
            raise OverrideError(norm, "the template does not mark it model-owned")
        if not isinstance(content, str):
            raise OverrideError(norm, "content must be text")
        _check_encodable(norm, content)
        files[norm] = PlannedFile(
            path=norm,
            content=content,
            step=target.step,
            origin=ORIGIN_MODEL,
            model_owned=True,
            mode=target.mode,
        )

    plan = Plan(files, manifest.id)
    return plan.for_steps(wanted) if wanted is not None else plan


#: What a command body the template wrote (not yet the implementation step's) prints.
PLACEHOLDER_MARK = "{}: not implemented yet"


def _placeholder_commands(commands: list[dict], entries, overrides) -> list[str]:
    """The commands whose body is still the template's placeholder, so the README can
    say so: a model-owned structure file not overridden, or one that still prints the
    placeholder's message for the command."""
    texts = [(overrides or {}).get(dest) for entry, dest in entries
             if entry.model_owned and entry.step == "structure"]
    return [c["name"] for c in commands
            if any(t is None or PLACEHOLDER_MARK.format(c["name"]) in t for t in texts)]


def _check_encodable(path: str, content: str) -> None:
    try:
        content.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise WorkbenchError(
            f"{path}: the text cannot be written as UTF-8 ({exc.reason} at {exc.start})", 2
        ) from None


def manifest_for(spec: Spec) -> Manifest:
    return get_manifest(spec.template)
