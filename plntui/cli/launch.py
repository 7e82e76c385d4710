"""Provides ``plntui`` with no command: it opens the Textual app.

The one module outside ``plntui.tui`` that imports the app, and so Textual. The import-linter
contracts in ``pyproject.toml`` allow its two imports of ``plntui.tui`` and no other, and let no
module import this one: ``main`` reaches it by name through its command table (``APP``). The
imports stay inside ``cmd_app`` all the same.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import ValidationError


def cmd_app(args: argparse.Namespace) -> int:
    """Open the Textual app; on a profile that does not exist yet it asks your name first."""
    from ..profile import resolve_home
    from ..tui.app import PlntuiApp
    from ..tui.sync_service import SyncOptions

    if not sys.stdin.isatty() or not sys.stdout.isatty():
        raise ValidationError("the app needs a terminal; for scripts use a command (see --help)")
    # The app syncs with trusted colleagues unless --offline; a throwaway demo never does.
    sync = None if args.offline or args.demo else SyncOptions()
    app = PlntuiApp(resolve_home(args.home), sync=sync)
    app.run()
    return app.return_code or 0
