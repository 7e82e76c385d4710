"""Provides ``python -m plntui.cli``, the same as ``python -m plntui``."""

from .main import main

raise SystemExit(main())
