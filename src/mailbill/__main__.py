"""``python -m mailbill``: the command line (see :mod:`mailbill._cli`)."""

from __future__ import annotations

import sys

from mailbill._cli import main

if __name__ == "__main__":
    sys.exit(main())
