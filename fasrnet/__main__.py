import sys

from fasrnet.cli import main

sys.exit(main())
