import sys

from camstudy.cli import main

sys.exit(main())
