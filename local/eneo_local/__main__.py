"""`python -m eneo_local up` is `eneo-local up`."""

import sys

from eneo_local.cli import main

sys.exit(main())
