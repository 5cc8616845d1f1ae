import sys
from pathlib import Path

# tests/labs.py is a helper module shared by the whole-lab tests.
sys.path.insert(0, str(Path(__file__).parent))
