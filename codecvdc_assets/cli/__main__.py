"""`python -m codecvdc_assets.cli`."""

import sys

from codecvdc_assets.cli import main

sys.exit(main())
