"""``python -m hrr``: the ``hrr`` command line, for when the ``hrr`` script is not on PATH."""

import sys

from hrr.cli import main

if __name__ == "__main__":
    sys.exit(main())
