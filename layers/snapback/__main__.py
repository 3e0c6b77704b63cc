import sys

from snapback.cli import main

sys.exit(main())
