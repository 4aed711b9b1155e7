"""``python -m gclib`` is the ``gclib`` command."""

import sys

from gclib.cli import main

sys.exit(main())
