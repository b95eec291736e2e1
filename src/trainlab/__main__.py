"""`python -m trainlab` runs the CLI."""

import sys

from trainlab.cli import main

sys.exit(main())
