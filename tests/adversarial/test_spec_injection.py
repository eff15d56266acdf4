"""A spec (or a model) smuggling template syntax and hostile paths into the scaffold."""

from __future__ import annotations

import sys

import pytest

from workbench.safety.sandbox import run, sandbox_available
from workbench.spec import SpecError, parse_spec

from .conftest import FIXTURE_SPEC, spec_text, tree

scaffold = pytest.importorskip("workbench.scaffold")

INJECTIONS = {
    "expr": "{{ 7*7 }}",
    "loop": "{% for x in range(3) %}LOOP{% endfor %}",
    "mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "config": "{{ config.items() }} {{ self.__init__.__globals__ }}",
    "comment": "{# hidden #} %s %(name)s",
}


def _yaml(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _injected_spec():
    text = spec_text(summary=f"summary: {_yaml('Convert ' + INJECTIONS['expr'])}")
    text = text.replace(
        "help: CSV file to read", f"help: {_yaml('CSV ' + INJECTIONS['loop'])}"
    ).replace(
        "help: Spaces of indentation", f"help: {_yaml('Spaces ' + INJECTIONS['mro'])}"
    ).replace(
        "help: Show what would be written", f"help: {_yaml('Dry ' + INJECTIONS['config'])}"
    ).replace(
        "summary: Convert one CSV file to JSON",
        f"summary: {_yaml('Convert one ' + INJECTIONS['comment'])}",
    )
    text = text.replace("## Overview", "## Overview\n\n{{ 7*7 }} {% raw %}{% endraw %} {{ cycler }}")
    return parse_spec(text, "evil.spec.md")


def test_template_syntax_in_a_spec_appears_literally_in_the_generated_files():
    spec = _injected_spec()
    plan = scaffold.render_plan(spec)
    everything = "\n".join(f.content for f in plan.files.values())
    for name, s in INJECTIONS.items():
        carriers = [p for p, f in plan.files.items() if s in f.content and p != "docs/spec.md"]
        assert carriers, f"{name}: {s!r} does not appear literally outside docs/spec.md"
    assert "LOOPLOOPLOOP" not in everything, "a {% for %} from the spec was executed"
    assert "<class 'object'>" not in everything and "__subclasses__() }}" in everything
    assert "Convert 49" not in everything
    spec_md = plan.files["docs/spec.md"].content
    assert spec_md == spec.text, "the approved spec is copied byte for byte"


@pytest.mark.skipif(not sandbox_available(), reason="bubblewrap unavailable")
def test_injected_help_text_reaches_the_user_of_the_generated_tool_verbatim(tmp_path):
    """Run the generated CLI's --help (in the sandbox): the strings are data, shown as written."""
    spec = _injected_spec()
    plan = scaffold.render_plan(spec)
    proj = tmp_path / "proj"
    scaffold.apply_plan(plan, proj)
    pkg = spec.name.replace("-", "_")
    res = run(
        [sys.executable, "-m", pkg, "convert", "--help"],
        proj,
        timeout=60,
        env={"PYTHONPATH": str(proj / "src"), "COLUMNS": "400"},
    )
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert "CSV " + INJECTIONS["loop"] in flat
    assert "Dry " + INJECTIONS["config"] in flat
    assert "LOOPLOOPLOOP" not in flat


def test_model_written_files_are_data_too_and_stay_in_their_lane():
    """The implementation step's overrides: literal, model-owned only, no traversal."""
    spec = parse_spec(FIXTURE_SPEC.read_text(encoding="utf-8"), "csv2json.spec.md")
    base = scaffold.render_plan(spec)
    owned = [p for p, f in base.files.items() if f.model_owned]
    assert owned, "the template marks model-owned files"
    body = "# {{ 7*7 }} {% for x in y %}\nVALUE = '{{ config }}'\n"
    plan = scaffold.render_plan(spec, overrides={owned[0]: body})
    assert plan.files[owned[0]].content == body
    for bad, why in [
        ("../../outside.py", "'..'"),
        ("/etc/cron.d/evil", "absolute"),
        (".git/hooks/pre-commit", ".git"),
        (".github/workflows/ci.yml", "model-owned"),
        ("src/evil/new_module.py", "not a file of this template"),
    ]:
        with pytest.raises(scaffold.OverrideError) as exc:
            scaffold.render_plan(spec, overrides={bad: "x"})
        assert why in str(exc.value), (bad, str(exc.value))


@pytest.mark.parametrize(
    "line,field",
    [
        ("name: ../../evil", "name"),
        ("name: /etc/evil", "name"),
        ('name: "evil\\u0000name"', "name"),
        ("name: .git", "name"),
        ("template: ../../../etc", "template"),
    ],
)
def test_hostile_names_in_a_spec_are_refused_before_anything_is_rendered(line, field, tmp_path):
    key = line.split(":")[0]
    spec = parse_spec(spec_text(**{key: line}), "evil.spec.md")
    with pytest.raises(SpecError) as exc:
        scaffold.render_plan(spec)
    assert exc.value.field == field and exc.value.exit_code == 2
    assert str(exc.value).startswith("evil.spec.md:")
    assert tree(tmp_path) == {}
