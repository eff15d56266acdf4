"""The Textual UI. Import `workbench.ui.app` for the app; this package imports nothing."""
