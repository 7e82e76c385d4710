"""Provides the Textual app of plntui (screens, dialogs, widgets); see ``app.PlntuiApp``."""
