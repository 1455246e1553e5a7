import sys

from batchport_emulator.cli import main

sys.exit(main())
