"""Licences: the spec's licence is checked against SPDX, and a project carries the
full text of it from the SPDX list data (never a stub, never typed by hand)."""

from __future__ import annotations

import re
import tomllib

import pytest

from workbench.scaffold import render_plan
from workbench.scaffold.filters import md_code, md_text, roff
from workbench.spec import parse_spec, validation_errors
from workbench.spec.licences import _bundle, license_problem, license_text

SPEC = """---
name: lic-tool
summary: A tool
template: {template}
license: {license}
commands:
  - name: run
    summary: Run it
---
# lic-tool
"""

# A phrase from the body of each licence and one from its end: the whole text is there.
FULL = {
    "MIT": ("Permission is hereby granted, free of charge", "OTHER DEALINGS IN THE"),
    "Apache-2.0": ("TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
                   "END OF TERMS AND CONDITIONS"),
    "BSD-3-Clause": ("Neither the name of the copyright holder nor the names of its contributors",
                     "EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE."),
    "GPL-3.0-only": ("Version 3, 29 June 2007", "END OF TERMS AND CONDITIONS"),
    "MPL-2.0": ("Mozilla Public License Version 2.0",
                'Exhibit B - "Incompatible With Secondary Licenses" Notice'),
}


def spec_with(license: str, template: str = "python-cli"):
    return parse_spec(SPEC.format(license=license, template=template))


@pytest.mark.parametrize("lid", sorted(FULL))
@pytest.mark.parametrize("template", ["python-cli", "bash-cli"])
def test_every_project_carries_the_full_licence_text(lid, template, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01
    plan = render_plan(spec_with(lid, template))
    text = plan.files["LICENSE"].content
    first, last = FULL[lid]
    assert first in text and last in text
    # The SPDX list's text, line for line (trailing blanks trimmed), nothing dropped.
    spdx = _bundle()[1][lid]["text"].strip()
    assert len(text.strip().splitlines()) == len(spdx.splitlines())
    assert len(text) > 0.95 * len(spdx)
    if lid in ("MIT", "BSD-3-Clause"):
        assert "Copyright (c) 2026 the lic-tool authors" in text
        assert "<year>" not in text and "<owner>" not in text and "<copyright holders>" not in text
    assert "README.md" in plan.files and f"{lid}" in plan.files["README.md"].content
    if template == "python-cli":
        project = tomllib.loads(plan.files["pyproject.toml"].content)["project"]
        assert project["license"] == lid
        assert project["license-files"] == ["LICENSE"]


def test_apache_and_gpl_instructions_keep_their_placeholders():
    # The appendix "how to apply" notices are part of the licence text: left as written.
    assert "Copyright [yyyy] [name of copyright owner]" in license_text("Apache-2.0", "h", 2026)
    assert "<name of author>" in license_text("GPL-3.0-only", "h", 2026)


def test_an_expression_carries_each_text():
    text = license_text("MIT OR Apache-2.0", "the x authors", 2030)
    assert text.startswith("This project is licensed under MIT OR Apache-2.0")
    assert "Permission is hereby granted" in text and "END OF TERMS AND CONDITIONS" in text
    assert "Copyright (c) 2030 the x authors" in text


@pytest.mark.parametrize("value, message", [
    ("mit", "write the SPDX licence expression as 'MIT'"),
    ("GPL-3.0", "'GPL-3.0' is a deprecated SPDX licence id; use GPL-3.0-only or GPL-3.0-or-later"),
    ("MITT", "'MITT' is not an SPDX licence id; did you mean MIT?"),
    ("Proprietary", "'Proprietary' is not an SPDX licence id"),
    ("MIT OR", "not a valid SPDX licence expression"),
    ("LicenseRef-Mine", "a LicenseRef- licence has no text Workbench can ship"),
    ("GPL-2.0-only WITH Classpath-exception-2.0", "licence exceptions (WITH) are not supported"),
])
def test_a_licence_that_is_not_spdx_is_one_error_naming_the_line(value, message):
    errors = validation_errors(spec_with(value), ["python-cli", "bash-cli"])
    assert len(errors) == 1
    assert str(errors[0]).startswith("spec.md:5: license: ")
    assert message in str(errors[0])


@pytest.mark.parametrize("value", [*FULL, "0BSD", "ISC", "Unlicense", "MIT OR Apache-2.0",
                                   "(MIT AND BSD-2-Clause)"])
def test_spdx_licences_are_accepted(value):
    assert license_problem(value) is None
    assert validation_errors(spec_with(value), ["python-cli"]) == []


def test_the_copyright_year_follows_source_date_epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(86400 * 366 * 10))  # 1980
    text = render_plan(spec_with("MIT")).files["LICENSE"].content
    assert "Copyright (c) 1980 the lic-tool authors" in text


# -- the Markdown, roff filters ---------------------------------------------------------


def rendered_text(markdown: str) -> tuple[str, str]:
    """(HTML, the text a reader sees) of Markdown rendered as GitHub does; for a
    table, the text of its body cells only."""
    import html

    from markdown_it import MarkdownIt

    out = MarkdownIt("commonmark").enable("table").render(markdown)
    cells = re.findall(r"<td>(.*?)</td>", out, re.S)
    shown = "".join(cells) if cells else out
    return out, html.unescape(re.sub(r"<[^>]+>", "", shown))


@pytest.mark.parametrize("text", [
    "<z> and <script>alert(1)</script>", "ends with a backslash \\", "*not em* _nor_ this",
    "a | pipe", "&copy; stays", "# not a heading", "1. not a list", "- not a list",
    "`tick` and ``two``", "[link](http://x) ![img](y)", "$x$ ~~gone~~",
])
def test_md_text_renders_as_exactly_the_text(text):
    html_out, shown = rendered_text(f"| a |\n| --- |\n| {md_text(text)} |\n")
    assert shown.strip() == text
    assert "<script" not in html_out and "<z>" not in html_out and "<em>" not in html_out
    html_out, shown = rendered_text(md_text(text) + "\n")
    assert shown.strip() == text and "<h1>" not in html_out and "<li>" not in html_out


@pytest.mark.parametrize("text", ["a`b", "`x`", "a|b", "plain"])
def test_md_code_is_one_code_span_of_the_text(text):
    html_out, shown = rendered_text(f"| a |\n| --- |\n| {md_code(text)} |\n")
    assert html_out.count("<code>") == 1 and shown.strip() == text


def test_roff_escapes_requests_and_backslashes():
    assert roff(".TH x") == "\\&.TH x"
    assert roff("'x") == "\\&'x"
    assert roff("a\\b -c") == "a\\eb \\-c"
    assert roff("é") == "\\[u00E9]"
