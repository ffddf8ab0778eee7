"""``python -m numpyro_ebm.cli`` is ``numpyro-ebm``."""

import sys

from numpyro_ebm.cli import main

sys.exit(main())
