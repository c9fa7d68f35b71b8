"""python -m tools.sweep NOTEBOOK --grid NAME=V1,V2 ... (see the package's docstring)."""

import sys

from tools.sweep.cli import main
from tools.sweep.runner import skip_slow_import

skip_slow_import()          # before main imports papermill (nothing above does)
sys.exit(main())
