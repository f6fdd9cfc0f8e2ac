"""The ``kfqmap`` command line: a click group (``main.cli``) with the commands the modules here define."""
