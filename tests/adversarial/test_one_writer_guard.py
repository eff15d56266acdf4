"""The one writer removes only what Workbench made: a throwaway copy aimed at a developer's
folder (a bug, or a path a hostile spec or model steered) is refused, nothing is deleted.
Before workbench/safety/fs.py, `monitor.copy_tree` ran `shutil.rmtree` on any target."""

from __future__ import annotations

import os
import tempfile

import pytest

from workbench.integrate import monitor
from workbench.safety import fs


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A temporary folder of its own, so tmp_path/home is outside it, as a home folder is."""
    systmp = tmp_path / "systmp"
    systmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(systmp))
    home = tmp_path / "home"
    (home / "work" / "notes").mkdir(parents=True)
    (home / "work" / "notes" / "todo.txt").write_text("mine\n")
    return home


def test_a_throwaway_copy_onto_a_developers_folder_is_refused(elsewhere, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("x = 1\n")
    with pytest.raises(fs.NotOurs, match="Workbench did not make"):
        monitor.copy_tree(src, elsewhere / "work")
    assert (elsewhere / "work" / "notes" / "todo.txt").read_text() == "mine\n"


def test_a_copy_into_a_new_folder_outside_the_temporary_one_is_refused(elsewhere, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    with pytest.raises(fs.NotOurs):
        monitor.copy_tree(src, elsewhere / "fresh")
    assert not (elsewhere / "fresh").exists()


def test_removing_a_tree_without_a_workbench_mark_is_refused(elsewhere):
    for victim in (elsewhere / "work", elsewhere / "work" / "notes", elsewhere):
        with pytest.raises(fs.NotOurs):
            fs.remove_tree(victim, ignore_errors=True)  # ignore_errors hides no refusal
    assert (elsewhere / "work" / "notes" / "todo.txt").is_file()


def test_a_marked_symlink_to_a_developers_folder_is_not_followed(elsewhere):
    link = elsewhere / ".proj.workbench-tmp-1-abcd"
    os.symlink(elsewhere / "work", link)
    fs.remove_tree(link, ignore_errors=True)
    with pytest.raises(OSError):
        fs.remove_tree(link)
    assert (elsewhere / "work" / "notes" / "todo.txt").read_text() == "mine\n"


def test_workbench_s_own_trees_are_removed(elsewhere):
    own = elsewhere / ".proj.workbench-tmp-1-abcd" / "src"
    own.mkdir(parents=True)
    fs.remove_tree(own.parent)
    assert not own.parent.exists()
    scratch = tempfile.mkdtemp()  # noqa: the test's own, under the patched temporary folder
    fs.remove_tree(scratch)
    assert not os.path.exists(scratch)
