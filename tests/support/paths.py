"""Where the repository is, for tests that read its files (docs, examples, deploy/, dev.py):
from here, not from each test's own place, which moves as the tests follow the code's layout."""

from __future__ import annotations

from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
