"""Widgets of the Workbench TUI."""
