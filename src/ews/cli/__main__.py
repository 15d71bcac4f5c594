"""`python -m ews.cli ...`, as `ews ...` (which `python -m ews` also is)."""

import sys

from . import main

sys.exit(main())
