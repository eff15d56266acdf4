"""Workbench: a terminal workbench for building command-line tools with AI, spec first."""

__version__ = "0.1.0"
