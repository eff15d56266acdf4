try:
    from workbench.cli.main import main
except KeyboardInterrupt:  # Ctrl-C while the command line is still being imported
    import sys

    print("workbench: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(main())
