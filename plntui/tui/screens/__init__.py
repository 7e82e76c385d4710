"""Provides the app's top-level screens, one per mode."""
