"""The scaffold package: discovery, manifests, the sandbox, plans, overrides, apply."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workbench.errors import UsageError, WorkbenchError
from workbench.safety import paths as safety_paths
from workbench.scaffold import (
    FILE_STEPS,
    INTEGRATE_STEPS,
    SCAFFOLD_STEPS,
    OverrideError,
    TemplateError,
    UnknownTemplate,
    apply_plan,
    cleanup_leftovers,
    get_manifest,
    list_templates,
    render_plan,
    template_ids,
    write_plan_files,
)
from workbench.scaffold import apply as apply_mod
from workbench.spec import SpecError, parse_spec

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "specs"
STEP_IDS = {"structure", "dependencies", "configuration", "tests", "docs", "cicd", "codespace", "deploy"}


def spec_text(template="python-cli", name="demo-tool", extra="", integrations=""):
    return (
        "---\n"
        f"name: {name}\n"
        "summary: A demo tool\n"
        f"template: {template}\n"
        "commands:\n"
        "  - name: go\n"
        "    summary: Go somewhere\n"
        "    arguments:\n"
        "      - name: where\n"
        "        help: Where to go\n"
        f"{extra}{integrations}"
        "---\n"
        f"# {name}\n"
    )


def spec(**kw):
    return parse_spec(spec_text(**kw))


# -- discovery and manifests ---------------------------------------------------------------


def test_list_templates_finds_both_templates():
    infos = {t.id: t for t in list_templates()}
    assert {"python-cli", "bash-cli"} <= set(infos)
    for t in infos.values():
        assert t.name and t.description
        assert (t.path / "manifest.toml").is_file()
    assert template_ids() == sorted(template_ids())


def test_every_manifest_entry_is_a_known_step_and_exists():
    for tid in ("python-cli", "bash-cli"):
        m = get_manifest(tid)
        assert m.files, tid
        for f in m.files:
            assert f.step in FILE_STEPS
            assert (m.files_dir / f.src).is_file()
        assert any(f.model_owned for f in m.files)
        assert {f.step for f in m.files} == STEP_IDS
    assert set(FILE_STEPS) == STEP_IDS
    assert SCAFFOLD_STEPS | INTEGRATE_STEPS == STEP_IDS


def test_unknown_template_is_a_usage_error():
    with pytest.raises(UnknownTemplate) as exc:
        get_manifest("no-such")
    assert exc.value.exit_code == 2
    assert "python-cli" in str(exc.value)
    with pytest.raises(UnknownTemplate):
        get_manifest("../templates")


def make_template(root: Path, manifest: str, files: dict[str, str]) -> Path:
    t = root / "tpl"
    (t / "files").mkdir(parents=True)
    (t / "manifest.toml").write_text(textwrap.dedent(manifest))
    for name, content in files.items():
        (t / "files" / name).write_text(content)
    return t


MANIFEST = """\
    id = "tpl"
    name = "Test"
    description = "A test template"

    [[files]]
    src = "a.j2"
    dest = "{dest}"
    step = "structure"
    {extra}
"""


def tpl_spec():
    return parse_spec(spec_text(template="tpl"))


def test_a_template_with_an_undefined_variable_fails_to_render(tmp_path, monkeypatch):
    make_template(tmp_path, MANIFEST.format(dest="a.txt", extra=""), {"a.j2": "{{ no_such_var }}\n"})
    monkeypatch.setenv("WORKBENCH_TEMPLATES", str(tmp_path))
    with pytest.raises(TemplateError, match="no_such_var"):
        render_plan(tpl_spec())


def test_the_sandbox_refuses_unsafe_attribute_access(tmp_path, monkeypatch):
    make_template(
        tmp_path,
        MANIFEST.format(dest="a.txt", extra=""),
        {"a.j2": "{{ name.__class__.__mro__[1].__subclasses__() }}\n"},
    )
    monkeypatch.setenv("WORKBENCH_TEMPLATES", str(tmp_path))
    with pytest.raises(TemplateError, match="SecurityError"):
        render_plan(tpl_spec())


def test_a_dest_that_escapes_the_project_is_refused(tmp_path, monkeypatch):
    make_template(tmp_path, MANIFEST.format(dest="../{{ name }}.txt", extra=""), {"a.j2": "x\n"})
    monkeypatch.setenv("WORKBENCH_TEMPLATES", str(tmp_path))
    with pytest.raises(TemplateError, match=r"\.\."):
        render_plan(tpl_spec())


def test_manifest_errors_name_the_field(tmp_path, monkeypatch):
    make_template(
        tmp_path, MANIFEST.format(dest="a.txt", extra='model_owned = "yes"'), {"a.j2": "x\n"}
    )
    monkeypatch.setenv("WORKBENCH_TEMPLATES", str(tmp_path))
    with pytest.raises(TemplateError, match=r"files\[0\]\.model_owned"):
        list_templates()
    (tmp_path / "tpl" / "manifest.toml").write_text(
        textwrap.dedent(MANIFEST.format(dest="a.txt", extra="").replace("structure", "build"))
    )
    with pytest.raises(TemplateError, match=r"files\[0\]\.step"):
        list_templates()


def test_dest_is_rendered_with_variables_and_spec_strings_stay_data(tmp_path, monkeypatch):
    make_template(
        tmp_path,
        MANIFEST.format(dest="out/{{ package }}.txt", extra=""),
        {"a.j2": "{{ summary }}|{{ commands[0].arguments[0].help|py }}\n"},
    )
    monkeypatch.setenv("WORKBENCH_TEMPLATES", str(tmp_path))
    text = spec_text(template="tpl").replace("Where to go", "'{{ name }} {% if 1 %}x{% endif %}'")
    text = text.replace("A demo tool", "'{{ 7 * 7 }} {# c #}'")
    plan = render_plan(parse_spec(text))
    f = plan.files["out/demo_tool.txt"]
    assert f.content == "{{ 7 * 7 }} {# c #}|\"{{ name }} {% if 1 %}x{% endif %}\"\n"


# -- plans -----------------------------------------------------------------------------------


def test_render_plan_python_cli_has_the_expected_files():
    plan = render_plan(spec())
    assert plan.template == "python-cli"
    paths = set(plan.files)
    for p in (
        "pyproject.toml",
        "src/demo_tool/__init__.py",
        "src/demo_tool/__main__.py",
        "src/demo_tool/cli.py",
        "src/demo_tool/commands.py",
        "tests/test_cli.py",
        "tests/test_commands.py",
        ".gitignore",
        ".editorconfig",
        ".github/dependabot.yml",
        "README.md",
        "CHANGELOG.md",
        "CONTRIBUTING.md",
        "LICENSE",
        "man/demo-tool.1",
        "completions/bash/demo-tool",
        "docs/spec.md",
        "AGENTS.md",
        ".github/workflows/ci.yml",
        ".github/workflows/release.yml",
        ".devcontainer/devcontainer.json",
    ):
        assert p in paths, p
    assert ".circleci/config.yml" not in paths  # circleci defaults to false
    owned = [f.path for f in plan.model_owned()]
    assert owned == ["src/demo_tool/commands.py", "tests/test_commands.py"]
    assert all(f.origin.startswith("template:python-cli/") for f in plan)
    assert plan.total_bytes == sum(len(f.content.encode()) for f in plan)


def test_bash_cli_script_is_executable_and_the_bodies_are_model_owned():
    plan = render_plan(spec(template="bash-cli"))
    assert plan.files["bin/demo-tool"].mode == 0o755
    assert plan.files["README.md"].mode == 0o644
    owned = {f.path for f in plan.model_owned()}
    assert owned == {"lib/demo-tool/commands.sh", "test/commands.bats"}


def test_steps_select_files():
    s = spec(integrations="integrations:\n  circleci: true\n")
    full = render_plan(s)
    scaffold = render_plan(s, steps=SCAFFOLD_STEPS)
    cicd = render_plan(s, steps={"cicd"})
    assert set(cicd.files) == {".github/workflows/ci.yml", ".circleci/config.yml",
                               ".github/dependabot.yml"}
    assert set(scaffold.files) | set(render_plan(s, steps=INTEGRATE_STEPS).files) == set(full.files)
    assert {f.step for f in scaffold} <= SCAFFOLD_STEPS
    assert render_plan(s, steps={"codespace"}).paths() == [".devcontainer/devcontainer.json"]
    assert render_plan(s, steps={"deploy"}).paths() == [".github/workflows/release.yml"]
    with pytest.raises(WorkbenchError, match="unknown scaffold step"):
        render_plan(s, steps={"nope"})


def test_integrations_switch_files_off():
    s = spec(integrations="integrations:\n  github_actions: false\n  devcontainer: false\n")
    paths = set(render_plan(s).files)
    assert not any(p.startswith(".github/") for p in paths)
    assert ".devcontainer/devcontainer.json" not in paths
    assert ".circleci/config.yml" not in paths


def test_plan_sha256_is_stable_and_tracks_content_and_mode():
    a = render_plan(spec())
    b = render_plan(spec())
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
    c = render_plan(spec(name="other-tool"))
    assert c.sha256 != a.sha256
    d = render_plan(spec(), overrides={"src/demo_tool/commands.py": "print('x')\n"})
    assert d.sha256 != a.sha256
    # mode matters too
    from dataclasses import replace

    e = render_plan(spec())
    e.files["README.md"] = replace(e.files["README.md"], mode=0o755)
    assert e.sha256 != a.sha256


def test_docs_spec_is_the_spec_text_exactly():
    text = (FIXTURES / "python-hostile.spec.md").read_text(encoding="utf-8")
    s = parse_spec(text)
    assert render_plan(s).files["docs/spec.md"].content == text
    crlf = spec_text().replace("\n", "\r\n")
    assert render_plan(parse_spec(crlf)).files["docs/spec.md"].content == crlf


@pytest.mark.parametrize("template", ["python-cli", "bash-cli"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_docs_spec_keeps_a_utf8_bom_so_its_sha256_is_the_approved_one(template, newline, tmp_path):
    # A spec saved by an editor that writes a BOM: its sha256 (recorded at approval and
    # as spec_sha256 in .workbench/manifest.json) covers the BOM, so docs/spec.md must too.
    raw = b"\xef\xbb\xbf" + spec_text(template=template).replace("\n", newline).encode("utf-8")
    approved = parse_spec(raw)
    assert approved.sha256 == hashlib.sha256(raw).hexdigest()
    plan = render_plan(approved)
    doc = plan.files["docs/spec.md"]
    assert doc.content.encode("utf-8") == raw
    assert doc.sha256 == approved.sha256
    written = (apply_plan(plan, tmp_path / "p") / "docs" / "spec.md").read_bytes()
    assert hashlib.sha256(written).hexdigest() == approved.sha256
    # Written back and parsed again, it is the same spec (same identity).
    assert parse_spec(written).sha256 == approved.sha256


def test_an_invalid_spec_is_refused_before_rendering():
    bad = spec_text().replace("name: demo-tool", "name: ../evil")
    with pytest.raises(SpecError) as exc:
        render_plan(parse_spec(bad))
    assert exc.value.exit_code == 2 and exc.value.field == "name"
    with pytest.raises(SpecError, match="unknown template"):
        render_plan(spec(template="no-such-template"))


# -- overrides -----------------------------------------------------------------------------


def test_overrides_replace_model_owned_files_only():
    body = "def run_go(args):\n    return 0\n"
    plan = render_plan(spec(), overrides={"src/demo_tool/commands.py": body})
    f = plan.files["src/demo_tool/commands.py"]
    assert f.content == body and f.origin == "model" and f.model_owned
    with pytest.raises(OverrideError, match="model-owned") as exc:
        render_plan(spec(), overrides={"src/demo_tool/cli.py": "x"})
    assert "src/demo_tool/cli.py" in str(exc.value)
    with pytest.raises(OverrideError, match="not a file of this template"):
        render_plan(spec(), overrides={"src/demo_tool/extra.py": "x"})
    for evil in ("../evil.py", "/etc/passwd", ".git/config", "a\\b"):
        with pytest.raises(OverrideError):
            render_plan(spec(), overrides={evil: "x"})


def test_overrides_apply_even_when_their_step_is_filtered_out():
    plan = render_plan(spec(), steps={"tests"}, overrides={"src/demo_tool/commands.py": "x = 1\n"})
    assert "src/demo_tool/commands.py" not in plan.files
    assert "tests/test_commands.py" in plan.files


# -- apply ------------------------------------------------------------------------------------


def tree(root: Path) -> dict[str, tuple[int, bytes]]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[p.relative_to(root).as_posix()] = (p.stat().st_mode & 0o777, p.read_bytes())
    return out


def test_apply_plan_writes_every_file_with_its_mode(tmp_path):
    plan = render_plan(spec(template="bash-cli"))
    target = tmp_path / "deep" / "proj"
    assert apply_plan(plan, target) == target
    written = tree(target)
    assert set(written) == set(plan.files)
    for path, f in plan.files.items():
        assert written[path] == (f.mode, f.content.encode("utf-8"))
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["proj"]  # no temp dir left


def test_apply_plan_accepts_an_empty_directory(tmp_path):
    target = tmp_path / "empty"
    target.mkdir()
    apply_plan(render_plan(spec()), target)
    assert (target / "pyproject.toml").is_file()


def test_apply_plan_refuses_a_non_empty_target_and_leaves_it_untouched(tmp_path):
    target = tmp_path / "proj"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    before = tree(target)
    with pytest.raises(UsageError) as exc:
        apply_plan(render_plan(spec()), target)
    assert exc.value.exit_code == 2
    assert str(target) in str(exc.value)
    assert tree(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


def test_apply_plan_refuses_a_file_and_a_symlink(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        apply_plan(render_plan(spec()), f)
    assert f.read_text() == "x"
    link = tmp_path / "link"
    (tmp_path / "real").mkdir()
    link.symlink_to(tmp_path / "real")
    with pytest.raises(UsageError, match="symlink"):
        apply_plan(render_plan(spec()), link)
    assert list((tmp_path / "real").iterdir()) == []


def test_an_interrupted_apply_leaves_nothing(tmp_path, monkeypatch):
    plan = render_plan(spec())
    calls = {"n": 0}
    real = safety_paths.write_file

    def flaky(root, rel, content, mode=0o644):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(root, rel, content, mode)

    monkeypatch.setattr(apply_mod, "write_file", flaky)
    target = tmp_path / "proj"
    with pytest.raises(KeyboardInterrupt):
        apply_plan(plan, target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_apply_plan_writes_through_safety_write_file(tmp_path, monkeypatch):
    seen = []
    real = safety_paths.write_file

    def spy(root, rel, content, mode=0o644):
        seen.append(rel)
        return real(root, rel, content, mode)

    monkeypatch.setattr(apply_mod, "write_file", spy)
    plan = render_plan(spec())
    apply_plan(plan, tmp_path / "p")
    assert seen == list(plan.files)


def test_cleanup_leftovers_removes_stale_temp_dirs_only(tmp_path):
    # A process that has exited: its pid is free.
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(proc.stdout)
    stale = tmp_path / f".proj.workbench-tmp-{dead}-abcd1234"
    (stale / "src").mkdir(parents=True)
    (stale / "src" / "x.py").write_text("x")
    live = tmp_path / f".other.workbench-tmp-{os.getppid()}-abcd1234"
    live.mkdir()
    unrelated = tmp_path / ".proj.something-else"
    unrelated.mkdir()
    removed = cleanup_leftovers(tmp_path)
    assert removed == [stale]
    assert not stale.exists() and live.exists() and unrelated.exists()


def test_the_next_apply_cleans_up_an_interrupted_one(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f".proj.workbench-tmp-{int(proc.stdout)}-00ff00ff"
    stale.mkdir()
    (stale / "half.txt").write_text("half")
    apply_plan(render_plan(spec()), tmp_path / "proj")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


def test_write_plan_files_adds_later_steps_to_an_existing_project(tmp_path):
    s = spec(integrations="integrations:\n  circleci: true\n")
    plan = render_plan(s)
    target = tmp_path / "proj"
    apply_plan(plan.for_steps(SCAFFOLD_STEPS), target)
    assert not (target / ".github").exists()
    written = write_plan_files(plan, target, {"cicd"})
    assert written == [".github/workflows/ci.yml", ".circleci/config.yml", ".github/dependabot.yml"]
    assert (target / ".github/workflows/ci.yml").read_text() == plan.files[".github/workflows/ci.yml"].content
    assert not (target / ".devcontainer").exists()
    assert write_plan_files(plan, target, {"codespace", "deploy"}) == [
        ".devcontainer/devcontainer.json",
        ".github/workflows/release.yml",
    ]
    with pytest.raises(UsageError):
        write_plan_files(plan, tmp_path / "missing", {"cicd"})


def test_write_plan_files_refuses_a_symlinked_directory(tmp_path):
    plan = render_plan(spec())
    target = tmp_path / "proj"
    apply_plan(plan.for_steps(SCAFFOLD_STEPS), target)
    outside = tmp_path / "outside"
    outside.mkdir()
    (target / ".github").symlink_to(outside)
    with pytest.raises(safety_paths.UnsafePath):
        write_plan_files(plan, target, {"cicd"})
    assert list(outside.iterdir()) == []


def test_scaffold_never_imports_ui_or_llm_packages():
    code = (
        "import sys, workbench.scaffold as s;"
        "from workbench.spec import parse_spec;"
        "s.render_plan(parse_spec(open(sys.argv[1]).read()));"
        "bad = [m for m in ('textual', 'rich', 'litellm') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code, str(FIXTURES / "python-hostile.spec.md")],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
