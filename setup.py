"""Package discovery that pyproject.toml cannot express: the code under workbench/,
plus the top-level templates/ directory shipped as the data package
`workbench.templates` (mapped in pyproject's [tool.setuptools.package-dir]; its files
are package data). Its subdirectories whose names Python could import (prompts/) are
listed too, so setuptools does not warn that they would be ignored."""

from pathlib import Path

from setuptools import find_namespace_packages, setup


def _data_packages(root: str, name: str) -> list[str]:
    found = [name]
    for d in sorted(p for p in Path(root).rglob("*") if p.is_dir()):
        parts = d.relative_to(root).parts
        if all(part.isidentifier() for part in parts) and "__pycache__" not in parts:
            found.append(".".join((name, *parts)))
    return found


setup(
    packages=find_namespace_packages(include=["workbench", "workbench.*"])
    + _data_packages("templates", "workbench.templates"),
)
