"""The ``mace`` command line. One module per subcommand; ``main.py`` dispatches."""
