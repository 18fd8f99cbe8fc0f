"""lorchestra-ops: the ``lorchestra`` operations CLI, beside (never inside) the target that loads the data."""
