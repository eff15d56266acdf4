"""Template discovery and manifests: `templates/<id>/manifest.toml` + `files/`.

A manifest looks like this:

    id = "python-cli"
    name = "Python CLI"
    description = "..."

    [[files]]
    src = "cli.py.j2"                   # under files/
    dest = "src/{{ package }}/cli.py"   # a path expression, rendered in the sandbox
    step = "structure"                  # a scaffold or integration step
    model_owned = false                 # the implementation step may write it
    executable = false                  # mode 0755 instead of 0644
    when = "integrations.circleci"      # optional: a Jinja expression
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from workbench import paths
from workbench.errors import UsageError, WorkbenchError
from workbench.lifecycle.steps import FILE_STEPS, INTEGRATION_FILE_STEPS
from workbench.lifecycle.steps import SCAFFOLD_STEPS as _SCAFFOLD_STEPS

#: FILE_STEPS: the steps a template file can belong to, in lifecycle order (the step table's).
#: The steps rendered before the apply gate; the others are added to an existing project.
SCAFFOLD_STEPS = frozenset(_SCAFFOLD_STEPS)
INTEGRATE_STEPS = frozenset(INTEGRATION_FILE_STEPS)


class TemplateError(WorkbenchError):
    """A broken template (a bug in Workbench's data, not in the user's input)."""

    exit_code = 1


class UnknownTemplate(UsageError):
    def __init__(self, template_id: str, available: list[str]):
        super().__init__(
            f"unknown template '{template_id}' (available: {', '.join(available) or 'none'})"
        )
        self.template_id = template_id


@dataclass(frozen=True)
class TemplateInfo:
    id: str
    name: str
    description: str
    path: Path


@dataclass(frozen=True)
class FileEntry:
    src: str
    dest: str
    step: str
    model_owned: bool = False
    executable: bool = False
    when: str | None = None


@dataclass(frozen=True)
class Manifest:
    info: TemplateInfo
    files: tuple[FileEntry, ...] = field(default_factory=tuple)

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def files_dir(self) -> Path:
        return self.info.path / "files"


def _is_template_dir(p: Path) -> bool:
    return p.is_dir() and (p / "manifest.toml").is_file()


def list_templates() -> list[TemplateInfo]:
    """Every template under `workbench.paths.templates_dir()`, sorted by id."""
    root = paths.templates_dir()
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.iterdir()):
        if _is_template_dir(p):
            out.append(load_manifest(p).info)
    return out


def template_ids() -> list[str]:
    return [t.id for t in list_templates()]


def get_manifest(template_id: str) -> Manifest:
    root = paths.templates_dir()
    p = root / template_id
    if "/" in template_id or template_id.startswith(".") or not _is_template_dir(p):
        raise UnknownTemplate(template_id, template_ids())
    return load_manifest(p)


def load_manifest(path: Path) -> Manifest:
    """Read and check `path/manifest.toml`."""
    mpath = path / "manifest.toml"
    try:
        data = tomllib.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"{mpath}: cannot read the manifest: {exc}") from None

    def need_str(obj: dict, key: str, where: str) -> str:
        value = obj.get(key)
        if not isinstance(value, str) or not value:
            raise TemplateError(f"{mpath}: {where}{key}: must be a non-empty string")
        return value

    tid = need_str(data, "id", "")
    if tid != path.name:
        raise TemplateError(f"{mpath}: id '{tid}' does not match the directory '{path.name}'")
    info = TemplateInfo(
        id=tid,
        name=need_str(data, "name", ""),
        description=need_str(data, "description", ""),
        path=path,
    )
    files = []
    entries = data.get("files", [])
    if not isinstance(entries, list):
        raise TemplateError(f"{mpath}: files: must be an array of tables")
    for i, entry in enumerate(entries):
        where = f"files[{i}]."
        if not isinstance(entry, dict):
            raise TemplateError(f"{mpath}: files[{i}]: must be a table")
        unknown = set(entry) - {"src", "dest", "step", "model_owned", "executable", "when"}
        if unknown:
            raise TemplateError(f"{mpath}: {where}{min(unknown)}: unknown key")
        src = need_str(entry, "src", where)
        src_path = PurePosixPath(src)
        if src_path.is_absolute() or ".." in src_path.parts:
            raise TemplateError(f"{mpath}: {where}src: must stay under files/")
        if not (path / "files" / src).is_file():
            raise TemplateError(f"{mpath}: {where}src: files/{src} does not exist")
        step = need_str(entry, "step", where)
        if step not in FILE_STEPS:
            raise TemplateError(
                f"{mpath}: {where}step: '{step}' is not one of {', '.join(FILE_STEPS)}"
            )
        flags = {}
        for key in ("model_owned", "executable"):
            value = entry.get(key, False)
            if not isinstance(value, bool):
                raise TemplateError(f"{mpath}: {where}{key}: must be true or false")
            flags[key] = value
        when = entry.get("when")
        if when is not None and (not isinstance(when, str) or not when.strip()):
            raise TemplateError(f"{mpath}: {where}when: must be a non-empty expression")
        files.append(
            FileEntry(src=src, dest=need_str(entry, "dest", where), step=step, when=when, **flags)
        )
    return Manifest(info=info, files=tuple(files))
