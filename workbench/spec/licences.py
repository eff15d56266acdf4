"""SPDX licences: checking a spec's `license` and the full text a project ships.

Nothing here is typed by hand. Expressions are parsed and canonicalised by
`packaging.licenses` (PyPA's SPDX list, the same check setuptools applies to a
PEP 639 `license` field), and the texts are the SPDX License List's own
(`licenseText` of the official license-list-data), as bundled in the
`licenseid` package's data file. That file is read directly, so `licenseid`
itself (and its matcher's dependencies) is never imported.

- `license_problem(expr)`: None when `expr` is an SPDX expression Workbench can
  ship the text of, else a one-line message saying what to write instead.
- `license_text(expr, holder, year)`: the LICENSE file: the full text of each
  licence in the expression, the copyright line at its top filled in.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import gzip
import json
import os
import re
from functools import lru_cache
from importlib import metadata

SPDX_LIST_URL = "https://spdx.org/licenses/"
_BUNDLE = "licenseid/data/spdx-bundle.json.gz"


class LicenceDataMissing(RuntimeError):
    """The SPDX texts are not installed (a broken installation, not bad input)."""


@lru_cache(maxsize=1)
def _bundle() -> tuple[str, dict[str, dict]]:
    """(SPDX list version, licence id -> record), read once per process."""
    try:
        path = metadata.distribution("licenseid").locate_file(_BUNDLE)
        with gzip.open(str(path), "rb") as f:
            data = json.load(f)
        records = {rec["licenseId"]: rec for rec in data["licenses"]}
        return str(data.get("licenseListVersion", "?")), records
    except (metadata.PackageNotFoundError, OSError, ValueError, KeyError, TypeError) as exc:
        raise LicenceDataMissing(
            f"the SPDX licence texts cannot be read ({exc}); reinstall Workbench "
            "(its dependency licenseid ships them)"
        ) from None


def spdx_list_version() -> str:
    return _bundle()[0]


_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_OPERATORS = {"AND", "OR", "WITH"}


def licence_ids(expr: str) -> list[str]:
    """The licence ids of a canonical expression, in order, without repeats."""
    out: list[str] = []
    for tok in _TOKEN.findall(expr):
        if tok in "()" or tok in _OPERATORS:
            continue
        if tok not in out:
            out.append(tok)
    return out


def _suggest(lid: str, records: dict[str, dict]) -> str:
    if re.fullmatch(r"(A|L)?GPL-\d\.\d\+?", lid) or re.fullmatch(r"GFDL-\d\.\d", lid):
        base = lid.rstrip("+")
        return f"; use {base}-only or {base}-or-later"
    live = [k for k, r in records.items() if not r.get("isDeprecatedLicenseId")]
    by_lower = {k.lower(): k for k in live}
    close = [by_lower[k] for k in difflib.get_close_matches(lid.lower(), list(by_lower), n=3,
                                                            cutoff=0.75)]
    return f"; did you mean {' or '.join(close)}?" if close else ""


def license_problem(expr: object) -> str | None:
    """Why `expr` cannot be a project's licence, or None when it can."""
    from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression

    if not isinstance(expr, str) or not expr.strip():
        return f"must be an SPDX licence id such as MIT or Apache-2.0 (see {SPDX_LIST_URL})"
    try:
        canonical = str(canonicalize_license_expression(expr))
    except InvalidLicenseExpression as exc:
        unknown = re.search(r"Unknown license(?: exception)?: '([^']*)'", str(exc))
        if unknown:
            # packaging names it in lower case: show it as the spec wrote it.
            lid = next((t for t in _TOKEN.findall(expr) if t.lower() == unknown.group(1)),
                       unknown.group(1))
            _, records = _bundle()
            hint = _suggest(lid, records)
            return f"'{lid}' is not an SPDX licence id{hint} (see {SPDX_LIST_URL})"
        return f"not a valid SPDX licence expression: {exc}"
    if " WITH " in f" {canonical} ":
        return ("licence exceptions (WITH) are not supported: the SPDX list Workbench "
                "ships has no exception texts; use a licence id alone")
    if "LicenseRef-" in canonical or "DocumentRef-" in canonical:
        return ("a LicenseRef- licence has no text Workbench can ship; use an SPDX "
                f"licence id (see {SPDX_LIST_URL})")
    if canonical != expr:
        return f"write the SPDX licence expression as '{canonical}'"
    _, records = _bundle()
    for lid in licence_ids(canonical):
        rec = records.get(lid)
        if rec is not None and rec.get("isDeprecatedLicenseId"):
            return f"'{lid}' is a deprecated SPDX licence id{_suggest(lid, records)}"
        if rec is None or not rec.get("text"):
            return (f"no licence text for '{lid}' in the SPDX list Workbench ships "
                    f"(version {spdx_list_version()})")
    return None


def copyright_year() -> int:
    """This year (UTC), or SOURCE_DATE_EPOCH's for reproducible output."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return _dt.datetime.fromtimestamp(int(epoch), _dt.UTC).year
    return _dt.datetime.now(_dt.UTC).year


# A run of placeholders on a copyright line: "<year> <copyright holders>", "<year> <owner>",
# "[yyyy] [name of copyright owner]", "YEAR by AUTHOR EMAIL".
_ANGLE_RUN = re.compile(r"(?:<[^<>\n]{1,40}>[ ,]*)+")
_SQUARE_RUN = re.compile(r"(?:\[[^\[\]\n]{1,40}\][ ,]*)+")
_UPPER = re.compile(r"\bYEAR\b(?: by)? AUTHOR(?: EMAIL)?\b")
_HEAD_LINES = 4  # a licence's own copyright line comes first; later ones are instructions


def _fill(line: str, holder: str, year: int) -> str:
    def repl(m: re.Match) -> str:
        run = m.group(0)
        tail = " " if run.endswith(" ") else ""
        return f"{year} {holder}{tail}" if re.search("year|yyyy", run, re.I) else holder + tail

    new = _ANGLE_RUN.sub(repl, line)
    if new == line:
        new = _SQUARE_RUN.sub(repl, line)
    if new == line:
        new = _UPPER.sub(f"{year} {holder}", line)
    return new


def _one_text(text: str, holder: str, year: int) -> str:
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").split("\n")]
    seen = 0
    for i, ln in enumerate(lines):
        if not ln.strip():
            continue
        seen += 1
        if seen > _HEAD_LINES:
            break
        if re.match(r"\s*copyright\b", ln, re.I):
            lines[i] = _fill(ln, holder, year)
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines) + "\n"


def license_text(expr: str, holder: str, year: int | None = None) -> str:
    """The LICENSE file for an expression `license_problem` accepts."""
    problem = license_problem(expr)
    if problem is not None:
        raise ValueError(f"license {expr!r}: {problem}")
    year = copyright_year() if year is None else year
    _, records = _bundle()
    ids = licence_ids(expr)
    texts = [_one_text(records[lid]["text"], holder, year) for lid in ids]
    if len(texts) == 1:
        return texts[0]
    head = (f"This project is licensed under {expr} (SPDX-License-Identifier: {expr}).\n"
            f"Copyright (c) {year} {holder}.\n"
            "The full text of each licence follows.\n")
    parts = [head]
    for lid, text in zip(ids, texts):
        parts.append(f"\n{'=' * 72}\n{lid}: {records[lid]['name']}\n{'=' * 72}\n\n{text}")
    return "".join(parts)
