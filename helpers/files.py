"""Writing files so that nothing already written is ever half-overwritten: the kit's one atomic write.

A plain ``open(path, "w")`` truncates the old file first; if the write then fails (a full disk, a size limit,
Ctrl-C, a killed process) the old content is gone and the new one is incomplete. Every file the kit writes goes
through a temporary file in the same folder instead, which replaces the target with ``os.replace`` only once it
is complete. A reader therefore sees the old file or the whole new one, never a mixture.

    atomic_write(path, "text")            # str (UTF-8) or bytes
    with atomic_output(path) as tmp:      # for libraries that write to a path themselves
        fig.savefig(tmp)                  # (matplotlib, torch.save, Pillow, ...)

Beside it, the checks every command makes on its output path before any work, so that no command writes onto
its own input (even with ``--force``) and an ``--out`` folder that is a file is refused at once:

    check_not_input(out, [image, checkpoint])     # OutputError when out is an input (also through a link)
    check_output_folder(out)                      # OutputError when --out names an existing file
"""

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "atomic_output", "OutputError", "is_same_or_inside", "check_not_input",
           "check_output_folder"]


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


def load_torch_file(path, format_mark: str | tuple[str, ...], todo: str, error=ValueError, map_location="cpu") -> dict:
    """The dict saved by ``torch.save`` in ``path``, read safely, that carries ``{"format": format_mark}`` (or one
    of the marks of a tuple: the caller then reads ``["format"]`` to tell the kinds apart).

    Safely: ``torch.load(weights_only=True)`` builds tensors and plain containers only, never objects whose
    unpickling could run code. torch's own error then suggests ``weights_only=False``; the kit never repeats that
    advice. An empty, truncated, foreign or code-carrying file raises ``error`` (the caller's error class) naming
    the file and saying what to do (``todo``); a missing file ``FileNotFoundError``, an unreadable one ``OSError``."""
    import torch  # here, so that the modules that only write files do not pay for importing torch

    marks = (format_mark,) if isinstance(format_mark, str) else tuple(format_mark)
    format_mark = " or ".join(marks)                # for the messages

    try:
        state = torch.load(Path(path), map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint {path} not found; {todo}") from None
    except (PermissionError, IsADirectoryError) as e:
        raise OSError(f"{path}: cannot read the checkpoint ({e.strerror})") from None
    except EOFError:
        raise error(f"{path} is empty or truncated, not a {format_mark} checkpoint; {todo}") from None
    except Exception as e:      # UnpicklingError (also for a file that would run code), RuntimeError, OSError...
        why = ("it holds objects other than tensors and plain containers, which the kit never loads (loading them "
               "could run code from the file)") if "weights_only" in str(e) else \
            f"it is truncated, damaged or not a torch file: {type(e).__name__}"
        raise error(f"{path} is not a usable {format_mark} checkpoint ({why}); {todo}") from None
    if not isinstance(state, dict) or state.get("format") not in marks:
        found = repr(state.get("format")) if isinstance(state, dict) else f"a {type(state).__name__}"
        raise error(f"{path} is not a {format_mark} checkpoint (format {found}); {todo}")
    return state


# ----------------------------------------------------------------------------------------------------
# Output paths: never onto an input, never a file where a folder is expected
# ----------------------------------------------------------------------------------------------------

class OutputError(ValueError):
    """An output path that would overwrite an input, or a file where a folder is expected."""


def is_same_or_inside(path, other) -> bool:
    """True when ``path`` is the file or folder ``other`` or lies inside the folder ``other``.

    Compared after resolving symbolic links and ``..``; two names of one file (a hard link) count as the same."""
    path, other = Path(path), Path(other)
    try:
        if os.path.samefile(path, other):
            return True
    except OSError:                         # one of them does not exist (yet)
        pass
    path, other = path.resolve(), other.resolve()
    return path == other or other in path.parents


def check_not_input(out, inputs, option: str = "the output") -> None:
    """Raise :class:`OutputError` when ``out`` is one of ``inputs`` or lies inside one of them (a folder of
    inputs). ``option`` names the output in the message (``"--out"``)."""
    for given in inputs:
        if given is not None and is_same_or_inside(out, given):
            where = "is" if is_same_or_inside(given, out) else "lies inside"
            raise OutputError(f"{option} {out} {where} the input {given}: a command never writes onto its own "
                              f"input, even with --force; choose another path")


def check_output_folder(out, option: str = "--out") -> None:
    """Raise :class:`OutputError` when ``out`` exists and is not a folder (the command would fail only after its
    work, or replace the file)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{option} {out} is an existing file, not a folder; give a folder (it is created if "
                          f"needed)")
