"""The app's theme lives in the profile's ``settings.json`` beside the relay setting: saving one
keeps the other, and the theme comes back at the next start."""

from __future__ import annotations

from pathlib import Path

from plntui.network import Network
from plntui.relay_config import profile_relay, set_profile_relay
from plntui.settings import read_settings
from plntui.tui.app import PlntuiApp
from sync.relay import RelayAddress


async def test_the_theme_is_saved_beside_the_relay_and_restored(
    sample: Network, home: Path
) -> None:
    set_profile_relay(home, RelayAddress("relay.example", 4001))
    app = PlntuiApp(home, watch_interval=60)
    async with app.run_test() as pilot:
        await pilot.pause()
        theme = next(t for t in app.available_themes if t != app.theme)
        app.theme = theme
        await pilot.pause()
    assert read_settings(home)["theme"] == theme
    assert profile_relay(home) == "tcp:relay.example:4001"
    again = PlntuiApp(home, watch_interval=60)
    async with again.run_test() as pilot:
        await pilot.pause()
        assert again.theme == theme
