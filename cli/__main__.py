"""``python -m changeover.cli``: the command line without the window."""

import sys

from .app import main

sys.exit(main())
