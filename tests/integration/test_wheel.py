"""Workbench as a user installs it: a built wheel in a fresh virtualenv, away from the checkout.

The wheel and sdist are built with `python -m build` and checked with `twine check
--strict`. The wheel goes into a new venv with `--no-deps`; its dependencies are the
test venv's own, hard-linked into the new venv's site-packages (everything but the
checkout's editable install of workbench), so the new venv is self-contained as a
user's would be, and any file the installed package read from the checkout would be
missing. Every command runs from an empty directory with WORKBENCH_TEMPLATES unset.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "tests" / "fixtures" / "specs"


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


def _copy_dependencies(src: Path, dst: Path) -> None:
    """The test venv's site-packages, hard-linked (copied across file systems), minus workbench."""
    import shutil

    def mine(name: str) -> bool:
        return name == "workbench" or name.startswith(("workbench-", "__editable__", "__editable___workbench"))

    for entry in src.iterdir():
        if mine(entry.name) or entry.name == "__pycache__":
            continue
        target = dst / entry.name
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, target, symlinks=True, copy_function=os.link)
            else:
                os.link(entry, target, follow_symlinks=False)
        except OSError:  # another file system: a real copy
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, target, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(entry, target, follow_symlinks=False)


@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> Path:
    """A fresh, self-contained venv holding the wheel; returns its bin directory."""
    where = tmp_path_factory.mktemp("venv") / "wb"
    venv.EnvBuilder(with_pip=False).create(where)
    py = where / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    _copy_dependencies(Path(sysconfig.get_paths()["purelib"]), Path(purelib))
    wheel = next(dist.glob("*.whl"))
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q",
                        "--disable-pip-version-check", str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    # the console scripts of the dependencies (ruff, pytest) the generated projects are checked with
    for tool in ("ruff", "pytest"):
        src = Path(sys.executable).parent / tool
        if src.exists() and not (where / "bin" / tool).exists():
            (where / "bin" / tool).symlink_to(src.resolve() if tool == "ruff" else src)
    return where / "bin"


def _wb(bin_dir: Path, *args, cwd: Path, home: Path, timeout=600):
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_API_KEY") and k not in ("WORKBENCH_TEMPLATES", "PYTHONPATH")}
    env["WORKBENCH_HOME"] = str(home)
    return subprocess.run([str(bin_dir / "workbench"), *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def test_dist_passes_twine_check(dist):
    r = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_wheel_carries_templates_prompts_and_tools(dist):
    names = set(zipfile.ZipFile(next(dist.glob("*.whl"))).namelist())
    for must in ("workbench/templates/python-cli/manifest.toml", "workbench/templates/bash-cli/manifest.toml",
                 "workbench/templates/prompts/tool_builder.md.j2", "workbench/integrate/actionlint.cjs",
                 "workbench/ui/app.tcss"):
        assert must in names, must
    # every file of the checkout's templates/ is in the wheel
    source = {f"workbench/templates/{p.relative_to(ROOT / 'templates').as_posix()}"
              for p in (ROOT / "templates").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert source - names == set()


def test_sdist_carries_templates_and_docs(dist):
    import tarfile

    with tarfile.open(next(dist.glob("*.tar.gz"))) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert "templates/python-cli/manifest.toml" in names
    assert "docs/design.md" in names


def test_installed_package_is_not_the_checkout(installed, tmp_path):
    r = subprocess.run([str(installed / "python"), "-c", "import workbench; print(workbench.__file__)"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and str(ROOT) not in r.stdout, r.stdout + r.stderr


def test_version_and_templates_from_the_wheel(installed, tmp_path):
    r = _wb(installed, "--version", cwd=tmp_path, home=tmp_path / "home")
    assert r.returncode == 0 and r.stdout.startswith("workbench 0."), r.stderr
    r = _wb(installed, "templates", cwd=tmp_path, home=tmp_path / "home")
    assert r.returncode == 0
    assert "python-cli" in r.stdout and "bash-cli" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("spec", ["python-csv2json.spec.md", "bash-csv2json.spec.md"])
def test_new_from_the_wheel_both_templates(installed, tmp_path, spec):
    out = tmp_path / "project"
    r = _wb(installed, "new", "from the wheel", "--spec", str(SPECS / spec), "--out", str(out), "--yes",
            cwd=tmp_path, home=tmp_path / "home")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "done:" in r.stdout
    import shutil

    if shutil.which("actionlint") is None:  # the wheel's user has not run `workbench install-tools`
        assert "actionlint: not run (" in r.stdout and "workbench install-tools" in r.stdout, r.stdout
    log = subprocess.run(["git", "-C", str(out), "log", "--format=%s"], capture_output=True, text=True).stdout
    assert "Add CI configuration" in log
    status = subprocess.run(["git", "-C", str(out), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == ""
