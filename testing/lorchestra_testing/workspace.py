"""Where the workspace is: the checkout holding ``meltano.yml``, found from this package or the cwd.

The workspace installs this package editable, so its own location names the checkout; the cwd is the
fallback for a non-editable install run from the repository root.
"""

from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def workspace_root() -> Path:
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for directory in (start, *start.parents):
            if (directory / "meltano.yml").is_file():
                return directory
    msg = "no lorchestra checkout (a directory with meltano.yml) above this package or the working directory"
    raise RuntimeError(msg)


#: The target's Singer scenarios (``run_target`` takes a bare file name as one of these).
def scenarios() -> Path:
    return workspace_root() / "target-lorchestra" / "tests" / "data"
