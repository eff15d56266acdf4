"""What a careful maintainer ships, checked on generated projects with tools no one
here wrote: the README as GitHub renders it, the release and CI workflows, the bash
Makefile and its release tarball, bash/zsh/fish completions, the man page, the wheel's
metadata, dependabot."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from workbench import paths
from workbench.scaffold import apply_plan, render_plan
from workbench.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "specs"
BIN = Path(sys.executable).parent
SPECS = {p.name.removesuffix(".spec.md"): p for p in sorted(FIXTURES.glob("*.spec.md"))}
PINS = tomllib.loads((paths.templates_dir() / "actions.toml").read_text("utf-8"))["actions"]


def run(cmd, cwd, env=None, code=0, timeout=120):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    full.update(LC_ALL="C.UTF-8", **(env or {}))
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=full, capture_output=True,
                       text=True, timeout=timeout, check=False)
    assert r.returncode == code, f"{cmd} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def need(tool: str) -> str:
    found = str(BIN / tool) if (BIN / tool).exists() else shutil.which(tool)
    if found is None:
        pytest.skip(f"{tool} is not installed (scripts/test.sh installs it)")
    return found


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, tuple]:
    base = tmp_path_factory.mktemp("maintainer")
    out = {}
    for sid in ("python-hostile", "bash-hostile", "python-csv2json", "bash-csv2json"):
        spec = load_spec(SPECS[sid])
        apply_plan(render_plan(spec), base / sid)
        out[sid] = (spec, base / sid)
    return out


# -- README ---------------------------------------------------------------------------------


def rendered(markdown: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(markdown)


@pytest.mark.parametrize("sid", ["python-hostile", "bash-hostile"])
def test_readme_renders_every_help_text_as_text_with_defaults_and_choices(sid, projects):
    spec, target = projects[sid]
    out = rendered((target / "README.md").read_text("utf-8"))
    assert "<z>" not in out and "<br" not in out  # no raw HTML, no hard break
    rows = re.findall(r"<tr>(.*?)</tr>", out, re.S)
    cells = [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
              for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", r, re.S)] for r in rows]
    by_option = {row[0]: row for row in cells if row and row[0].startswith("-")}
    for cmd in spec.data["commands"]:
        for o in cmd["options"]:
            row = next(r for k, r in by_option.items() if k.split()[0].rstrip(",") == f"--{o['name']}")
            assert len(row) == 4, row  # a | in a help text did not split the cell
            assert row[3] == o["help"].strip()
            if o["type"] == "flag":
                assert row[2] == ("off" if not o.get("default") else f"on (--no-{o['name']} turns it off)")
            elif o.get("default") is not None:
                default = float(o["default"]) if o["type"] == "float" else o["default"]
                assert row[2] == str(default)
            for choice in o.get("choices") or []:
                assert choice in row[1]
    text = html.unescape(re.sub(r"<[^>]+>", "", out))
    assert "Exit codes" in text and "141" in text and "130" in text
    # No body is written yet: every command is named as a placeholder.
    note = re.search(r"Not implemented yet:(.*?)</blockquote>", out, re.S).group(1)
    for cmd in spec.data["commands"]:
        assert f"<code>{cmd['name']}</code>" in note


def test_readme_names_only_the_commands_still_holding_the_placeholder(projects):
    spec, _ = projects["python-csv2json"]
    plan = render_plan(spec)
    body = plan.files["src/csv2json/commands.py"].content
    assert "not implemented yet" in (plan.files["README.md"].content)
    done = body.replace('"convert: not implemented yet"', '"converted"')
    readme = render_plan(spec, overrides={"src/csv2json/commands.py": done}).files["README.md"].content
    assert "Not implemented yet" not in readme


def test_readme_shows_short_required_multiple_and_nargs():
    specs = [p for p in SPECS.values() if re.search(r"^\s+(short|nargs|required|multiple):",
                                                    p.read_text("utf-8"), re.M)]
    if not specs:
        pytest.skip("no fixture spec uses short/required/multiple/nargs yet")
    for path in specs:
        spec = load_spec(path)
        text = html.unescape(re.sub(r"<[^>]+>", "", rendered(render_plan(spec).files["README.md"].content)))
        for cmd in spec.data["commands"]:
            for o in cmd["options"]:
                if o.get("short"):
                    assert f"-{o['short']}, --{o['name']}" in text
            if any(o.get("required") for o in cmd["options"]):
                assert "required" in text
            if any(o.get("multiple") for o in cmd["options"]):
                assert "repeatable" in text
            for a in cmd["arguments"]:
                if a.get("nargs") == "+":
                    assert "one or more values" in text


def test_no_env_example_is_generated(projects):
    for _, target in projects.values():
        assert not (target / ".env.example").exists()


# -- workflows ------------------------------------------------------------------------------


def load(target: Path, rel: str) -> dict:
    return yaml.safe_load((target / rel).read_text("utf-8"))


@pytest.mark.parametrize("sid", ["python-hostile", "bash-hostile"])
def test_every_action_is_pinned_by_commit_with_its_version(sid, projects):
    _, target = projects[sid]
    for wf in (target / ".github" / "workflows").glob("*.yml"):
        for line in wf.read_text("utf-8").splitlines():
            if "uses:" in line:
                m = re.fullmatch(r"\s*-? ?uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)", line)
                assert m, f"{wf.name}: not pinned by SHA with a version: {line}"
                assert PINS[m.group(1)] == {**PINS[m.group(1)], "sha": m.group(2), "version": m.group(3)}


@pytest.mark.parametrize("sid", ["python-hostile", "bash-hostile"])
def test_release_permissions_are_least_privilege(sid, projects):
    spec, target = projects[sid]
    doc = load(target, ".github/workflows/release.yml")
    assert doc["permissions"] == {"contents": "read"}
    writers = {name for name, job in doc["jobs"].items()
               if job.get("permissions", {}).get("contents") == "write"}
    assert len(writers) == 1
    (writer,) = writers
    # The job that tests the code never holds a write token.
    tester = next(n for n, j in doc["jobs"].items() if any(s.get("name") in ("Test", "Check")
                                                           for s in j["steps"]))
    assert tester != writer and "permissions" not in doc["jobs"][tester]
    assert any("action-gh-release" in s.get("uses", "") for s in doc["jobs"][writer]["steps"])
    if spec.template == "python-cli":
        pypi = doc["jobs"]["pypi"]
        assert pypi["permissions"] == {"id-token": "write"}
        assert pypi["environment"]["name"] == "pypi"
        assert any("pypa/gh-action-pypi-publish" in s.get("uses", "") for s in pypi["steps"])
    for job in doc["jobs"].values():
        assert job["timeout-minutes"] <= 15


@pytest.mark.parametrize("sid", ["python-hostile", "bash-hostile"])
def test_prerelease_tags_make_prereleases(sid, projects, tmp_path):
    _, target = projects[sid]
    doc = load(target, ".github/workflows/release.yml")
    step = next(s for s in doc["jobs"]["build"]["steps"] if s.get("id") == "kind")
    for tag, want in [("v1.0.0", "false"), ("v1.0.0rc1", "true"), ("v2.1.0a3", "true"),
                      ("v2.1.0b1", "true"), ("v1.0.0.dev2", "true"), ("v1.2.3.post1", "false")]:
        out = tmp_path / "out"
        out.write_text("")
        run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], tmp_path,
            env={"GITHUB_REF_NAME": tag, "GITHUB_OUTPUT": str(out)})
        assert out.read_text() == f"prerelease={want}\n", tag
    release = [s for j in doc["jobs"].values() for s in j["steps"]
               if "action-gh-release" in s.get("uses", "")]
    assert release[0]["with"]["prerelease"] == "${{ needs.build.outputs.prerelease }}"


@pytest.mark.parametrize("sid", ["python-hostile", "bash-hostile"])
def test_ci_has_concurrency_timeouts_and_macos(sid, projects):
    spec, target = projects[sid]
    doc = load(target, ".github/workflows/ci.yml")
    assert doc["concurrency"]["cancel-in-progress"] is True
    text = (target / ".github/workflows/ci.yml").read_text("utf-8")
    assert "macos-latest" in text
    for job in doc["jobs"].values():
        assert 0 < job["timeout-minutes"] <= 15
    if spec.template == "python-cli":
        assert "cache: pip" in text
        build = doc["jobs"]["build"]["steps"]
        script = "\n".join(s.get("run", "") for s in build)
        assert "python -m build" in script and "twine check --strict" in script
        assert "pip install dist/*.whl" in script and f"{spec.name}\" --version" in script
    else:
        assert "make check" in text and "shfmt" in text


def test_dependabot_validates(projects):
    cj = need("check-jsonschema")
    files = [t / ".github" / "dependabot.yml" for _, t in projects.values()]
    run([cj, "--builtin-schema", "vendor.dependabot", *files], ROOT)
    ecosystems = {u["package-ecosystem"] for u in load(projects["python-hostile"][1],
                                                       ".github/dependabot.yml")["updates"]}
    assert ecosystems == {"github-actions", "pip"}


# -- bash: Makefile, tarball, lint ---------------------------------------------------------


@pytest.mark.parametrize("sid", ["bash-hostile", "bash-csv2json"])
def test_bash_scripts_and_tests_pass_shfmt_and_shellcheck(sid, projects):
    spec, target = projects[sid]
    shfmt = need("shfmt")
    shellcheck = need("shellcheck")
    scripts = [f"bin/{spec.name}", f"lib/{spec.name}/commands.sh", f"completions/bash/{spec.name}"]
    tests = sorted(str(p.relative_to(target)) for p in (target / "test").glob("*.bats"))
    run([shfmt, "-d", *scripts, *tests], target)  # style from .editorconfig
    run([shellcheck, *scripts], target)
    run([shellcheck, "-s", "bats", *tests], target)


@pytest.mark.slow
def test_bash_make_install_uninstall_and_dist(projects, tmp_path):
    spec, src = projects["bash-hostile"]
    need("make")
    target = tmp_path / "checkout"
    shutil.copytree(src, target)
    stage, prefix = tmp_path / "stage dir", "/opt/with space"
    run(["make", "install", f"DESTDIR={stage}", f"PREFIX={prefix}"], target)
    root = Path(f"{stage}{prefix}")
    installed = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert installed == sorted([
        f"bin/{spec.name}", f"lib/{spec.name}/commands.sh", f"share/man/man1/{spec.name}.1",
        f"share/bash-completion/completions/{spec.name}", f"share/zsh/site-functions/_{spec.name}",
        f"share/fish/vendor_completions.d/{spec.name}.fish"])
    out = run([root / "bin" / spec.name, "--version"], tmp_path).stdout
    assert out.strip() == f"{spec.name} {spec.data['version']}"
    run(["make", "uninstall", f"DESTDIR={stage}", f"PREFIX={prefix}"], target)
    assert not [p for p in root.rglob("*") if p.is_file()]

    run(["make", "dist", "VERSION=9.8.7"], target)
    dist = target / "dist"
    assert sorted(p.name for p in dist.iterdir()) == ["SHA256SUMS", f"{spec.name}-9.8.7.tar.gz"]
    run(["sha256sum", "-c", "SHA256SUMS"], dist)
    listing = run(["tar", "-tzf", dist / f"{spec.name}-9.8.7.tar.gz"], tmp_path).stdout.split()
    assert all(m.startswith(f"{spec.name}-9.8.7/") for m in listing)
    for member in ("LICENSE", "CHANGELOG.md", f"man/{spec.name}.1", f"completions/zsh/_{spec.name}"):
        assert f"{spec.name}-9.8.7/{member}" in listing


# -- completions and the man page -----------------------------------------------------------

WORDS = """
_t() {{ COMP_WORDS=("$@"); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMPREPLY=();
  {func}; printf '%s\\n' "${{COMPREPLY[@]}}"; echo --; }}
"""


@pytest.mark.parametrize("sid", ["python-hostile", "bash-hostile"])
def test_bash_completion_completes_commands_options_and_choices(sid, projects):
    spec, target = projects[sid]
    name = spec.name
    func = f"_{name.replace('-', '_')}_complete"
    script = (f"source completions/bash/{name}; complete -p {name}; "
              + WORDS.format(func=func)
              + f"_t {name} ''; _t {name} co; _t {name} convert --l; _t {name} convert --from ''; "
              + f"_t {name} convert --level = i; _t {name} convert x 3 ''")
    out = run(["bash", "--norc", "-c", script], target).stdout.split("\n")
    assert out[0] == f"complete -F {func} {name}"
    groups = "\n".join(out[1:]).split("--\n")
    commands = [c["name"] for c in spec.data["commands"]]
    assert groups[0].split() == ["-h", "--help", "--version", *commands]
    assert groups[1].split() == [c for c in commands if c.startswith("co")]
    assert groups[2].split() == ["--level"]
    frm = next(o for o in spec.data["commands"][0]["options"] if o["name"] == "from")
    # Each candidate is quoted for the command line (printf %q): unquoted, the choice.
    assert [re.sub(r"\\(.)", r"\1", c) for c in groups[3].splitlines()] == frm["choices"]
    assert groups[4].split() == ["info"]  # bash splits --level=i at "=" (COMP_WORDBREAKS)
    assert groups[5].split() == ["slow", "-fast"]  # the third argument is a choice


def test_zsh_completion_registers_for_the_command(projects, tmp_path):
    zsh = need("zsh")
    spec, target = projects["python-hostile"]
    run([zsh, "-n", target / "completions" / "zsh" / f"_{spec.name}"], target)
    script = (f"fpath=({target}/completions/zsh $fpath); autoload -U compinit; "
              f"compinit -u -d {tmp_path}/zcompdump; print -r -- $_comps[{spec.name}]")
    out = run([zsh, "-f", "-c", script], tmp_path).stdout.strip()
    assert out == f"_{spec.name}"


def test_fish_completion_completes_commands_and_choices(projects):
    fish = need("fish")
    spec, target = projects["bash-hostile"]
    path = target / "completions" / "fish" / f"{spec.name}.fish"
    out = run([fish, "--no-config", "-c", f"source {path}; complete -C '{spec.name} '; echo ==; "
               f"complete -C '{spec.name} convert --from '"], target).stdout
    commands, choices = out.split("==\n")
    assert [line.split("\t")[0] for line in commands.splitlines()] == sorted(
        c["name"] for c in spec.data["commands"])
    frm = next(o for o in spec.data["commands"][0]["options"] if o["name"] == "from")
    assert sorted(line.split("\t")[0] for line in choices.splitlines()) == sorted(frm["choices"])


@pytest.mark.parametrize("sid", ["python-hostile", "bash-csv2json"])
def test_man_page_lints_clean_and_shows_every_option(sid, projects):
    spec, target = projects[sid]
    page = target / "man" / f"{spec.name}.1"
    if shutil.which("mandoc"):
        run(["mandoc", "-T", "lint", "-W", "error", page], target)
    groff = need("groff")
    r = run([groff, "-man", "-Tutf8", "-ww", "-z", page], target)
    assert r.stderr == ""
    text = run([groff, "-man", "-Tutf8", page], target).stdout
    text = re.sub(r".\x08", "", text)  # overstrike bold and underline
    for cmd in spec.data["commands"]:
        assert f"{spec.name} {cmd['name']}" in text
        for o in cmd["options"]:
            assert f"--{o['name']}" in text


# -- the python wheel -----------------------------------------------------------------------


@pytest.mark.slow
def test_wheel_carries_the_licence_completions_and_man_page(projects, tmp_path):
    spec, src = projects["python-hostile"]
    try:
        import build  # noqa: F401
    except ImportError:
        pytest.skip("build is not installed (pip install build)")
    target = tmp_path / "p"
    shutil.copytree(src, target)
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", tmp_path / "dist", "."],
        target, timeout=300)
    dist = sorted((tmp_path / "dist").iterdir())
    run([sys.executable, "-m", "twine", "check", "--strict", *dist], target)
    import zipfile

    wheel = zipfile.ZipFile(next(p for p in dist if p.suffix == ".whl"))
    names = wheel.namelist()
    meta = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert f"License-Expression: {spec.data['license']}" in meta
    assert "License-File: LICENSE" in meta
    for share in (f"share/man/man1/{spec.name}.1", f"share/bash-completion/completions/{spec.name}",
                  f"share/zsh/site-functions/_{spec.name}",
                  f"share/fish/vendor_completions.d/{spec.name}.fish"):
        assert any(n.endswith(".data/data/" + share) for n in names), share
    lic = wheel.read(next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))).decode()
    assert "END OF TERMS AND CONDITIONS" in lic
