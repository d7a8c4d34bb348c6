"""``python -m d6tflow ...``: the command line (d6tflow.cli)."""

import sys

from d6tflow.cli import main

# Guarded: a worker process that imports the parent's main module must not run the command again.
if __name__ == "__main__":
    sys.exit(main())
