"""Another revision's code beside the working tree, so one bench run measures before and
after in the same minutes (load on the machine falls on both alike). No `bridge` import:
workers import it from the tree they measure."""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def source_tree(rev: str | None) -> Iterator[Path]:
    """The repository itself (``rev`` None), or ``git archive rev`` unpacked in a temporary
    directory for the duration of the block."""
    if rev is None:
        yield REPO
        return
    with tempfile.TemporaryDirectory(prefix="bench-tree-") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", rev],
            capture_output=True,
            check=True,
        ).stdout
        tar_path = Path(tmp) / "tree.tar"
        tar_path.write_bytes(archive)
        with tarfile.open(tar_path) as tar:
            tar.extractall(Path(tmp) / "tree", filter="data")
        yield Path(tmp) / "tree"
