"""`python -m thorbot.cli.main`."""

import sys

from thorbot.cli.main import main

sys.exit(main())
