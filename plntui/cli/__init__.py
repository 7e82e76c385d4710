"""Provides the ``plntui`` command line; ``main`` runs it (``plntui = "plntui.cli:main"``).

``main.py`` holds the argument parser and ``main()``, which imports the one module that runs the
command given: ``contacts``, ``notes``, ``circles``, ``peers`` (``id``, ``peer``) with ``pair``,
``sync`` (``sync``, ``doctor``), ``transfer`` (``import``, ``export``), ``profile`` (``init``,
``rename``, ``repair``, ``compact``), ``activity`` (``log``, ``due``, ``whatsnew``), ``search``
(``search``, ``who``) and ``launch`` (no command: the app). ``output`` prints for all of them.

Here ``main`` is the function; ``from plntui.cli.main import build_parser`` reaches the module.
"""

from .main import main

__all__ = ["main"]
