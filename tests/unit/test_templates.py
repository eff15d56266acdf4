"""The templates' output, without installing anything: quoting filters, parsed
configuration files, and spec strings that arrive exactly as written."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from workbench.scaffold import package_name, render_plan
from workbench.scaffold.filters import comment, json_str, py, py_desc, py_help, py_str, sh, toml
from workbench.scaffold.filters import yaml as yaml_filter
from workbench.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "specs"
SPECS = sorted(FIXTURES.glob("*.spec.md"))
PY_SPECS = [p for p in SPECS if p.name.startswith("python-")]
BASH_SPECS = [p for p in SPECS if p.name.startswith("bash-")]


def spec_id(p: Path) -> str:
    return p.name.removesuffix(".spec.md")
RUFF = shutil.which("ruff", path=str(ROOT / ".venv" / "bin")) or shutil.which("ruff")

HOSTILE = [
    "",
    "plain",
    "it's",
    'say "hi"',
    "both ' and \"",
    "more \"\" than '",
    "back\\slash",
    "ends with \\",
    "\\n is not a newline",
    "100% and %s and %(prog)s and %%",
    "{{ name }} {% if x %} {# c #}",
    "$HOME $(id) `id` ${x}",
    "ünïcödé – 日本語 🎉",
    "tab\there",
    "line\nbreak\rreturn",
    "bell\x07 del\x7f esc\x1b",
    "sep\u2028para\u2029bom\ufeff nbsp\xa0",
    "  spaced  ",
    "!history !! ^x",
]


@pytest.mark.parametrize("s", HOSTILE)
def test_py_literal_round_trips(s):
    assert ast.literal_eval(py_str(s)) == s
    assert ast.literal_eval(py(s)) == s
    assert ast.literal_eval(py_help(s)) == s.replace("%", "%%")
    desc = ast.literal_eval(py_desc(s))
    assert desc == (s.replace("%", "%%") if "%(prog)" in s else s)


def test_py_literals_of_other_types():
    for v in (None, True, False, 0, -3, 2.5, 1e-9, [1, "a"], ["it's"]):
        assert ast.literal_eval(py(v)) == v
    assert py(float("inf")) == 'float("inf")'


def test_argparse_shows_help_texts_exactly():
    import argparse

    for s in HOSTILE:
        if "\n" in s or "\r" in s:
            continue  # spec validation keeps help texts to one line
        parser = argparse.ArgumentParser(
            prog="p", description=ast.literal_eval(py_desc(s)),
            formatter_class=argparse.RawTextHelpFormatter,
        )
        parser.add_argument("--x", help=ast.literal_eval(py_help(s)))
        out = parser.format_help()
        assert s in out, s


@pytest.mark.skipif(RUFF is None, reason="ruff is not installed")
def test_py_literals_are_already_ruff_formatted(tmp_path):
    lines = [f"X{i} = {py_str(s)}\n" for i, s in enumerate(HOSTILE)]
    f = tmp_path / "lits.py"
    f.write_text("".join(lines), encoding="utf-8")
    r = subprocess.run([RUFF, "format", "--check", "--diff", "--isolated", str(f)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("s", HOSTILE)
def test_sh_word_round_trips_through_bash(s):
    if "\x00" in s:
        pytest.skip("no NUL in shell words")
    r = subprocess.run(["bash", "-c", f"printf '%s' {sh(s)}"], capture_output=True, check=False)
    assert r.returncode == 0
    assert r.stdout.decode("utf-8") == s


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_sh_words_are_shellcheck_clean(tmp_path):
    f = tmp_path / "s.sh"
    f.write_text("#!/usr/bin/env bash\n" + "".join(f"printf '%s\\n' {sh(s)}\n" for s in HOSTILE),
                 encoding="utf-8")
    r = subprocess.run(["shellcheck", str(f)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout


@pytest.mark.parametrize("s", HOSTILE)
def test_toml_yaml_json_strings_round_trip(s):
    assert tomllib.loads(f"k = {toml(s)}\n")["k"] == s
    assert yaml.safe_load(f"k: {yaml_filter(s)}\n")["k"] == s
    assert json.loads(json_str(s)) == s


def test_comment_is_one_line():
    assert comment("a\nb  ") == "a b"
    assert "\n" not in comment("x\r\ny")


def test_package_names_do_not_shadow_the_standard_library():
    assert package_name("csv2json") == "csv2json"
    assert package_name("my-tool") == "my_tool"
    assert package_name("json") == "json_cli"
    assert package_name("class") == "class_"
    assert package_name("pytest") == "pytest_cli"


# -- rendered fixtures --------------------------------------------------------------------


def strings_of(spec):
    """Every help text and summary of a spec, as written."""
    data = spec.data
    out = [data["summary"]]
    for cmd in data["commands"]:
        out.append(cmd["summary"])
        for p in cmd["arguments"] + cmd["options"]:
            if p.get("help"):
                out.append(p["help"])
    return out


def rendered_markdown_text(markdown: str) -> str:
    """The text of Markdown rendered as GitHub does (CommonMark and tables), tags dropped."""
    import html
    import re

    from markdown_it import MarkdownIt

    out = MarkdownIt("commonmark").enable("table").render(markdown)
    return html.unescape(re.sub(r"<[^>]+>", "", out))


@pytest.fixture(params=SPECS, ids=spec_id)
def rendered(request):
    spec = load_spec(request.param)
    return spec, render_plan(spec)


def test_docs_spec_and_readme(rendered):
    spec, plan = rendered
    assert plan.files["docs/spec.md"].content == spec.text
    # As a reader sees it: the Markdown rendered, so escaped text must come back exact.
    readme = rendered_markdown_text(plan.files["README.md"].content)
    for s in strings_of(spec):
        assert s.strip() in readme, s
    agents = plan.files["AGENTS.md"].content
    for f in plan.model_owned():
        assert f"`{f.path}`" in agents


def test_configuration_files_parse(rendered):
    spec, plan = rendered
    data = spec.data
    for path, f in plan.files.items():
        if path.endswith((".yml", ".yaml")):
            doc = yaml.safe_load(f.content)
            assert isinstance(doc, dict), path
        elif path.endswith(".json"):
            assert json.loads(f.content)["name"] == data["name"]
        elif path.endswith(".toml"):
            tomllib.loads(f.content)
    if spec.template == "python-cli":
        pyproject = tomllib.loads(plan.files["pyproject.toml"].content)
        project = pyproject["project"]
        assert project["name"] == data["name"]
        assert project["description"] == data["summary"]
        assert project["version"] == data["version"]
        assert project["dependencies"] == data["dependencies"]
        assert project["scripts"] == {data["name"]: f"{package_name(data['name'])}.cli:main"}
        assert project["requires-python"] == ">=3.11"


def test_ci_files_follow_the_integrations(rendered):
    spec, plan = rendered
    integ = spec.data["integrations"]
    assert (".github/workflows/ci.yml" in plan.files) == integ["github_actions"]
    assert (".github/workflows/release.yml" in plan.files) == integ["github_actions"]
    assert (".circleci/config.yml" in plan.files) == integ["circleci"]
    assert (".devcontainer/devcontainer.json" in plan.files) == integ["devcontainer"]
    if integ["github_actions"]:
        ci = yaml.safe_load(plan.files[".github/workflows/ci.yml"].content)
        if spec.template == "python-cli":
            versions = ci["jobs"]["test"]["strategy"]["matrix"]["python-version"]
            assert versions == ["3.11", "3.12", "3.13", "3.14"]
            text = plan.files[".github/workflows/ci.yml"].content
            assert "ruff check" in text and "pytest" in text
        else:
            text = plan.files[".github/workflows/ci.yml"].content
            assert "shellcheck" in text and "make check" in text  # lint, shfmt -d, bats
        release = yaml.safe_load(plan.files[".github/workflows/release.yml"].content)
        assert release[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads `on` as True


@pytest.mark.parametrize("path", PY_SPECS, ids=spec_id)
def test_python_sources_parse_and_carry_the_help_texts(path):
    spec = load_spec(path)
    plan = render_plan(spec)
    pkg = package_name(spec.name)
    constants = set()
    for rel, f in plan.files.items():
        if rel.endswith(".py"):
            tree = ast.parse(f.content, filename=rel)
            if rel == f"src/{pkg}/cli.py":
                constants = {n.value for n in ast.walk(tree)
                             if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    for cmd in spec.data["commands"]:
        assert cmd["summary"].replace("%", "%%") in constants
        for p in cmd["arguments"] + cmd["options"]:
            if p["help"]:
                assert any(c.startswith(p["help"].replace("%", "%%")) for c in constants), p["help"]


@pytest.mark.parametrize("path", BASH_SPECS, ids=spec_id)
def test_bash_script_shows_the_help_texts(path, tmp_path):
    spec = load_spec(path)
    plan = render_plan(spec)
    from workbench.scaffold import apply_plan

    script = plan.files[f"bin/{spec.name}"].content
    assert script.startswith("#!/usr/bin/env bash\n")
    r = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    root = apply_plan(plan, tmp_path / "p")
    bin_ = str(root / "bin" / spec.name)
    out = subprocess.run([bin_, "--help"], capture_output=True, check=True).stdout.decode()
    assert spec.data["summary"] in out
    for cmd in spec.data["commands"]:
        assert cmd["summary"] in out
        sub = subprocess.run([bin_, cmd["name"], "--help"], capture_output=True, check=True)
        text = sub.stdout.decode()
        for p in cmd["arguments"] + cmd["options"]:
            assert p["help"] in text


@pytest.mark.parametrize("path", PY_SPECS, ids=spec_id)
def test_python_ci_matrix_runs_every_version_requires_python_allows(path):
    plan = render_plan(_with_all_integrations(load_spec(path)))
    pyproject = tomllib.loads(plan.files["pyproject.toml"].content)
    lowest = pyproject["project"]["requires-python"].removeprefix(">=")
    expected = [f"3.{minor}" for minor in range(int(lowest.split(".")[1]), 15)]
    assert expected[0] == "3.11" and expected[-1] == "3.14"
    ci = yaml.safe_load(plan.files[".github/workflows/ci.yml"].content)
    assert ci["jobs"]["test"]["strategy"]["matrix"]["python-version"] == expected
    circle = yaml.safe_load(plan.files[".circleci/config.yml"].content)
    [job] = circle["workflows"]["ci"]["jobs"]
    assert job["test"]["matrix"]["parameters"]["python-version"] == expected
    # Lint and release run on the newest; ruff targets the oldest.
    for wf, job_id in ((".github/workflows/ci.yml", "lint"), (".github/workflows/release.yml", "build")):
        doc = yaml.safe_load(plan.files[wf].content)
        setup = [s for s in doc["jobs"][job_id]["steps"] if s.get("uses", "").startswith("actions/setup-python")]
        assert [s["with"]["python-version"] for s in setup] == [expected[-1]]
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + expected[0].replace(".", "")
    # The devcontainer image is one that is published (…/python:1-3.14 is not).
    image = json.loads(plan.files[".devcontainer/devcontainer.json"].content)["image"]
    assert image in {f"mcr.microsoft.com/devcontainers/python:1-{v}" for v in ("3.11", "3.12", "3.13")}


def _with_all_integrations(spec):
    """The spec with GitHub Actions, CircleCI and the devcontainer all on."""
    from workbench.spec import parse_spec

    text = spec.text
    head, sep, body = text.partition("\n---\n")
    front = yaml.safe_load(head.removeprefix("---\n"))
    front["integrations"] = {"github_actions": True, "circleci": True, "devcontainer": True}
    return parse_spec("---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n" + body)


# -- the interface: number rule, names in errors, linear tests, bash parameters ----------------


def _spec_with_options(template: str, n: int, extra: str = ""):
    from workbench.spec import parse_spec

    types = ("int", "float", "choice", "str", "flag", "path")
    lines = ["---", "name: many", "summary: s", f"template: {template}", "commands:",
             "  - name: run", "    summary: r", "    arguments:", "      - name: src",
             "        type: int", "        help: h", "    options:"]
    for i in range(n):
        t = types[i % len(types)]
        lines += [f"      - name: o{i}", f"        type: {t}", "        help: h"]
        if t == "choice":
            lines.append("        choices: [a, b]")
    return parse_spec("\n".join(lines) + "\n" + extra + "---\n")


@pytest.mark.parametrize(("template", "tests"), [("python-cli", "tests/test_cli.py"),
                                                 ("bash-cli", "test/interface.bats")])
def test_generated_tests_grow_linearly_with_the_options(template, tests):
    """Every bad-value test used to repeat the full argv: 4x the size for 2x the options."""
    small, big = (len(render_plan(_spec_with_options(template, n)).files[tests].content)
                  for n in (90, 180))
    assert big / small < 2.2, (small, big)


def test_both_templates_follow_one_number_rule(tmp_path):
    from workbench.scaffold import apply_plan
    from workbench.scaffold.context import NUMBERS

    py = render_plan(load_spec(FIXTURES / "python-types.spec.md")).files["src/all_types/cli.py"].content
    consts = {t.targets[0].id: t.value.args[0].value for t in ast.parse(py).body
              if isinstance(t, ast.Assign) and isinstance(t.targets[0], ast.Name)
              and t.targets[0].id in ("INT_RE", "FLOAT_RE")}
    import re

    root = apply_plan(render_plan(load_spec(FIXTURES / "bash-types.spec.md")), tmp_path / "p")
    script = root / "bin" / "all-types-sh"
    for kind in ("int", "float"):
        cases = NUMBERS[f"{kind}_good"] + NUMBERS[f"{kind}_bad"]
        want = [True] * len(NUMBERS[f"{kind}_good"]) + [False] * len(NUMBERS[f"{kind}_bad"])
        python = [re.fullmatch(consts[f"{kind.upper()}_RE"], c) is not None for c in cases]
        r = subprocess.run(["bash", "-c", f'. "$1"; shift; for v; do (_check_{kind} u p n "$v") '
                            '>/dev/null 2>&1 && echo yes || echo no; done', "bash", str(script), *cases],
                           capture_output=True, text=True, check=True, env={"LANG": "C.UTF-8"})
        bash = [w == "yes" for w in r.stdout.split()]
        assert python == want == bash, list(zip(cases, python, bash))
    # The rule is written down beside both checks.
    for text in (py, script.read_text("utf-8")):
        assert "an int matches\n# ^[+-]?[0-9]+$ and a float" in text
        assert "no nan, inf, underscores or spaces" in text


def test_a_positional_choice_keeps_its_name_and_lists_its_choices():
    plan = render_plan(load_spec(FIXTURES / "python-types.spec.md"))
    cli = plan.files["src/all_types/cli.py"].content
    assert 'metavar="colour"' in cli
    assert "One of three colours (choose from red, green, blue)" in cli
    assert "choices=[" not in cli  # argparse's own check names {red,green,blue}, not colour


def test_bash_parameters_past_nine_are_documented_in_braces():
    spec = _spec_with_options("bash-cli", 11)
    doc = render_plan(spec).files["lib/many/commands.sh"].content
    assert "#   $9  --o7 " in doc
    assert "#   ${10}  --o8 " in doc and "#   ${12}  --o10 " in doc
    assert "$10" not in doc


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_bats_tests_of_a_command_without_parameters_compare_something(tmp_path):
    """`printf '<%s>\\n'` without arguments compared `<>` with `<>` (shellcheck SC2183)."""
    from workbench.scaffold import apply_plan

    root = apply_plan(render_plan(load_spec(FIXTURES / "bash-minimal.spec.md")), tmp_path / "p")
    bats = root / "test" / "interface.bats"
    r = subprocess.run(["shellcheck", "-s", "bats", str(bats), str(root / "test" / "commands.bats")],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout
    assert "expected=$(printf '%s\\n' 0)" in bats.read_text("utf-8")


@pytest.mark.parametrize("fixture", ["python-interface.spec.md", "bash-interface.spec.md"])
def test_readme_says_a_path_takes_dash_for_standard_io(fixture):
    """Every path argument and option's row in the README says `-` is standard input/output."""
    spec = load_spec(Path(__file__).parents[1] / "fixtures" / "specs" / fixture)
    readme = render_plan(spec).files["README.md"].content
    rows = [line for line in readme.splitlines() if line.startswith("| `") and "| path" in line]
    assert rows, "the fixture has path parameters"
    assert all("`-` for standard input/output" in row for row in rows), rows
