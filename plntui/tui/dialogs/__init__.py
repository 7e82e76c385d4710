"""Provides the app's modal dialogs."""
