"""The delivery pipeline's tests. The venv's Node.js goes first on PATH, before anything imports jsii."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
