"""`python -m workers.cli`: the same as the `convlog` console script."""

import sys

from workers.cli.main import main

sys.exit(main())
