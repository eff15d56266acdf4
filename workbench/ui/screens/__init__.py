"""Screens of the Workbench TUI."""
