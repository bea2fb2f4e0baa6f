"""Writes a small JSON file of label counts: an inline task's output in the example."""

import json
import sys
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else "counts")
out.mkdir(parents=True, exist_ok=True)
(out / "counts.json").write_text(json.dumps({str(d): 100 for d in range(10)}, indent=2))
