"""keymap.toml beside the settings file rebinds the app's keys by binding id; bad entries are reported, not fatal."""

from __future__ import annotations

import asyncio

from facetui.cli import main as cli_main
from facetui.tui.home_screen import HomeScreen
from facetui.tui.keymap import KEYMAP_NAME, bindings, load_keymap
from facetui.tui.recognition_screen import RecognitionScreen
from facetui.tui.settings_screen import SettingsScreen
from support.tui import SIZE, make_app, notifications


def test_every_binding_has_an_id_and_the_ids_are_listed():
    ids = bindings()
    assert {"recognition", "review.assign_1", "clusters.name", "quit", "save", "start", "abort"} <= set(ids)
    assert ids["recognition"][0] == "r" and ids["save"][0] == "ctrl+s"


def test_a_keymap_rebinds_keys_in_the_app(workspace):
    (workspace / KEYMAP_NAME).write_text('recognition = "x"\nsettings = "f2,ctrl+e"\n')

    async def go():
        app = make_app(workspace / "settings.json")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("r")  # no longer bound
            await pilot.pause()
            assert isinstance(app.screen, HomeScreen)
            await pilot.press("x")
            await pilot.pause()
            assert isinstance(app.screen, RecognitionScreen)
            await pilot.press("ctrl+e")
            await pilot.pause()
            assert isinstance(app.screen, SettingsScreen)
            assert not notifications(app)

    asyncio.run(go())


def test_bad_keymap_entries_are_reported_and_the_rest_applies(workspace):
    (workspace / KEYMAP_NAME).write_text('recognition = "x"\nno.such = "y"\nreview = "ctrl x"\nkb = 3\n')

    async def go():
        app = make_app(workspace / "settings.json")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            said = " ".join(notifications(app))
            assert "no binding called 'no.such'" in said
            assert "review = 'ctrl x' is not a key" in said and "kb = 3 is not a key" in said
            await pilot.press("x")
            await pilot.pause()
            assert isinstance(app.screen, RecognitionScreen)

    asyncio.run(go())


def test_a_keymap_that_is_not_toml_leaves_the_default_keys(tmp_path):
    path = tmp_path / KEYMAP_NAME
    path.write_text("recognition = \n[[[")
    keymap, problems = load_keymap(path)
    assert keymap == {} and len(problems) == 1 and "the default keys apply" in problems[0]
    assert load_keymap(tmp_path / "none.toml") == ({}, [])


def test_cli_keys_lists_the_bindings_and_checks_the_keymap(workspace, capsys):
    settings = str(workspace / "settings.json")
    assert cli_main(["keys", "--settings", settings]) == 0
    out = capsys.readouterr().out
    assert "review.assign_1" in out and "(none; write one" in out
    (workspace / KEYMAP_NAME).write_text('review.assign_1 = "a"\n')
    assert cli_main(["keys", "--settings", settings]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("review.assign_1 "))
    assert " a " in line and line.endswith("(keymap)")
    (workspace / KEYMAP_NAME).write_text('nope = "a"\n')
    assert cli_main(["keys", "--settings", settings]) == 2
    assert "no binding called 'nope'" in capsys.readouterr().err
