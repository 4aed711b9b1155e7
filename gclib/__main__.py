"""``python -m gclib`` is the ``gclib`` command."""

import sys

from gclib.cli.main import main

sys.exit(main())
