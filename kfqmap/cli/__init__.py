"""The ``kfqmap`` command line: a click group; each module here adds its commands."""
