"""``python -m gateway.cli``: the ``airlock`` command."""

import sys

from gateway.cli.main import main

sys.exit(main())
