"""`python -m core.cli ARGS` runs the headless commands, as `maskloop ARGS` does.

The app starts its trainer process this way: the package is found wherever it is
installed, with no need to locate main.py on disk.
"""

import sys

from core.cli import main

if __name__ == "__main__":  # importing the module (e.g. pkgutil.walk_packages) runs nothing
    sys.exit(main())
