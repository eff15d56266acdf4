"""Generated CI is validated before it is written: schema in-process, actionlint batched."""

from __future__ import annotations

import pytest

from workbench.errors import StepFailed
from workbench.integrate import ci

WORKFLOW = """name: CI
on:
  push:
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python-version: ["3.11", "3.12"]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python-version }}
      - run: pytest
"""
CIRCLE = """version: 2.1
jobs:
  test:
    docker:
      - image: cimg/python:3.12
    steps:
      - checkout
      - run: pytest
workflows:
  main:
    jobs:
      - test
"""


def test_valid_files_pass():
    ci.validate_files({".github/workflows/ci.yml": WORKFLOW, ".circleci/config.yml": CIRCLE,
                       ".devcontainer/devcontainer.json": '{"name": "x"}'})


@pytest.mark.parametrize("path, content, message", [
    (".github/workflows/ci.yml", WORKFLOW.replace("runs-on:", "runs_on:"), "vendor.github-workflows"),
    (".circleci/config.yml", CIRCLE.replace("version: 2.1", "version: [2]"), "vendor.circle-ci"),
    (".devcontainer/devcontainer.json", '{"name": ', "invalid JSON"),
])
def test_schema_violations_name_the_file(path, content, message):
    with pytest.raises(StepFailed) as exc:
        ci.validate_files({path: content}, "cicd")
    assert path in str(exc.value) and message in str(exc.value)


@pytest.mark.skipif(ci.actionlint_command() is None, reason="actionlint not installed (scripts/install-tools.sh)")
def test_actionlint_catches_what_the_schema_cannot_and_reports_in_the_right_step():
    bad = WORKFLOW.replace("matrix.python-version }}", "matrix.nope }}")
    assert ci.schema_errors(".github/workflows/ci.yml", bad) == []  # schema-valid
    with pytest.raises(StepFailed) as exc:
        ci.validate_files({".github/workflows/ci.yml": bad, ".github/workflows/other.yml": WORKFLOW},
                          "deploy")
    assert "step deploy failed: actionlint: .github/workflows/ci.yml:" in str(exc.value)
    assert "nope" in str(exc.value)
