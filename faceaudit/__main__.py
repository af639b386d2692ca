"""``python -m faceaudit`` is the ``faceaudit`` command."""

import sys

from faceaudit.cli import main

sys.exit(main())
