"""Spec versions in the TUI (issue 14 §3): the session's versions, the structural and body
diff between any two, restoring one."""

from __future__ import annotations

import pytest
from screen_host import Host
from screen_text import screen_text
from ui_support import wait_for

from workbench.ui.screens.versions import VersionsScreen

pytestmark = [pytest.mark.anyio, pytest.mark.needs_engine]


def session_with_versions(wb_env, tmp_path):
    """v1 drafted offline; v2 adds --limit to the first command; v3 changes the summary."""
    from workbench.lifecycle.engine import Engine, Options
    from workbench.llm.offline import OfflineAgents
    from workbench.store import Store

    store = Store(wb_env / "workbench.db")
    engine = Engine(store, OfflineAgents(), options=Options(run_monitor=False, allow_unsandboxed=True))
    sid = engine.start("count words in text files", tmp_path / "words")
    engine.run(sid)
    v1 = store.get_spec_version(sid)["text"]
    head, sep, rest = v1.partition("  options:\n")
    assert sep, v1
    v2 = head + sep + "  - name: limit\n    type: int\n    help: At most this many\n" + rest
    engine.save_spec_edit(sid, v2, actor="human:test")
    v3 = v2.replace("summary:", "summary: Renamed -", 1)
    engine.save_spec_edit(sid, v3, actor="human:test")
    return store, engine, sid, (v1, v2, v3)



async def test_lists_versions_and_diffs_any_two_at_command_and_option_level(wb_env, tmp_path) -> None:
    store, engine, sid, (v1, v2, v3) = session_with_versions(wb_env, tmp_path)
    app = Host(lambda: VersionsScreen(store, sid))
    async with app.run_test(size=(140, 40)) as pilot:
        # (pushed, then composed and painted: wait for its diff)
        assert await wait_for(pilot, lambda: "v2 → v3" in screen_text(app)), screen_text(app)
        text = screen_text(app)
        assert "v1" in text and "v2" in text and "v3" in text
        assert "v2 → v3" in text and "~ summary" in text  # newest against the one before
        await pilot.press("up", "a")  # highlighted v2 as A … v3 is B: now v1 as A
        await pilot.press("up", "a")
        await pilot.pause()
        text = screen_text(app)
        assert "v1 → v3" in text
        assert "+ option --limit" in text and "+    help: At most this many" in text
    engine.close()


async def test_restore_makes_an_old_version_the_newest(wb_env, tmp_path) -> None:
    store, engine, sid, (v1, _v2, _v3) = session_with_versions(wb_env, tmp_path)

    def restore(n: int) -> dict:
        from workbench.lifecycle.versions import restore as do

        class Service:
            pass

        Service.store = store
        Service.revise_spec = staticmethod(lambda s, text, actor=None: engine.save_spec_edit(s, text, actor=actor))
        return do(Service, sid, n, actor="human:test")

    app = Host(lambda: VersionsScreen(store, sid, restore=restore))
    async with app.run_test(size=(100, 30)) as pilot:
        assert await wait_for(pilot, lambda: isinstance(app.screen, VersionsScreen)
                              and app.screen.focused is not None)  # (its keys reach it)
        await pilot.press("up", "up", "r")
        assert await wait_for(pilot, lambda: bool(app.results))
    newest = store.get_spec_version(sid)
    assert newest["version"] == 4 and newest["text"] == v1
    engine.close()


async def test_restoring_the_newest_says_so_and_changes_nothing(wb_env, tmp_path) -> None:
    store, engine, sid, _ = session_with_versions(wb_env, tmp_path)
    app = Host(lambda: VersionsScreen(store, sid, restore=lambda n: pytest.fail("no restore")))
    async with app.run_test(size=(100, 30)) as pilot:
        assert await wait_for(pilot, lambda: isinstance(app.screen, VersionsScreen)
                              and app.screen.focused is not None)  # (its keys reach it)
        await pilot.press("r")
        assert await wait_for(pilot, lambda: "v3 is already the newest version" in screen_text(app)), \
            screen_text(app)
    assert store.get_spec_version(sid)["version"] == 3
    engine.close()
