"""``python -m tlbwidgets``: see ``tlbwidgets.cli``."""

import sys

from .cli import main

sys.exit(main())
