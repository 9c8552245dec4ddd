"""``python -m gvetool`` runs the CLI, so ``torchrun -m gvetool`` works too."""

import sys

from gvetool.launch import main

sys.exit(main())
