"""``python -m chargen``."""

import sys

from chargen.cli import main

if __name__ == "__main__":
    sys.exit(main())
