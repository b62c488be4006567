import sys

from generator.cli import generate_main

sys.exit(generate_main())
