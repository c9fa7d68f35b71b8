"""Writing files so that nothing already written is ever half-overwritten: the kit's one atomic write.

A plain ``open(path, "w")`` truncates the old file first; if the write then fails (a full disk, a size limit,
Ctrl-C, a killed process) the old content is gone and the new one is incomplete. Every file the kit writes goes
through a temporary file in the same folder instead, which replaces the target with ``os.replace`` only once it
is complete. A reader therefore sees the old file or the whole new one, never a mixture.

    atomic_write(path, "text")            # str (UTF-8) or bytes
    with atomic_output(path) as tmp:      # for libraries that write to a path themselves
        fig.savefig(tmp)                  # (matplotlib, torch.save, Pillow, ...)
"""

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "atomic_output"]


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path beside ``path``; when the block ends without an error it replaces ``path``.

    The temporary file keeps ``path``'s suffix (``.png``, ``.pt``, ...) so that a library which infers the format
    from the name still does. On any error, Ctrl-C included, the temporary file is removed and ``path`` is left as
    it was. The parent folder is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    short_name = path.name.encode()[:100].decode(errors="ignore")  # a file name may hold at most 255 bytes
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{short_name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, _mode_for(path))  # mkstemp makes the file private (0600); keep the usual permissions
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # the bytes reach the disk before the rename makes them the file
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _mode_for(path: Path) -> int:
    """The permissions ``path`` has, or those a plain ``open(path, "w")`` would give it (0666 less the umask)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write(path, data) -> None:
    """Write ``data`` (``bytes``, or ``str`` written as UTF-8) to ``path`` atomically (see ``atomic_output``)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
