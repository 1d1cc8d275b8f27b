"""``python -m klpcheck``: the command line, as the ``klpcheck`` script runs it."""

from klpcheck.cli import main

if __name__ == "__main__":
    main()
