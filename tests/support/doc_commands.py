"""The shell commands a doc shows: its ``sh`` blocks' ``curl`` lines, which tests run as
written (continuation lines joined), in order."""

from __future__ import annotations

import re
from pathlib import Path


def doc_curls(doc: Path) -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", doc.read_text(encoding="utf-8"), re.DOTALL)
    lines = "\n".join(block.replace("\\\n", " ") for block in blocks).splitlines()
    return [line.strip() for line in lines if line.strip().startswith("curl ")]
