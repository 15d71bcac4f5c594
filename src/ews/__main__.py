"""`python -m ews ...` (what `torchrun -m ews train ...` runs on every rank)."""

import sys

from .cli import main

sys.exit(main())
