#!/usr/bin/env python
"""GenHMR Studio entry point: `python main.py` opens the window; `python main.py --help` lists commands."""

import sys

from genhmr_app.cli import main

if __name__ == "__main__":
    sys.exit(main())
