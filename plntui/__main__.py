"""Provides ``python -m plntui``."""

from .cli import main

raise SystemExit(main())
