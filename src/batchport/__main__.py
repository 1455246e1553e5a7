import sys

from batchport.cli import main

sys.exit(main())
