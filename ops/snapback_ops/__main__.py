import sys

from snapback_ops.cli import main

sys.exit(main())
