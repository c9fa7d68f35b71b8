"""Checks for notebook parameters: each notebook validates its `parameters` cell with these, so a bad value
(from papermill's -p, a sweep, or a typo) stops at once with a message that names it and says what is allowed.

    epochs = check_int("epochs", epochs, minimum=1)
    target = check_choice("target", target, ["original", "jpeg"])
    latent_dims = check_int_list("latent_dims", latent_dims, minimum=1)   # "8,32,128" -> [8, 32, 128]
"""

import math
import numbers
from pathlib import Path

from helpers import paths


class ParameterError(ValueError):
    """A notebook parameter with a bad value; the message names it and says what is allowed."""


def check_choice(name, value, choices):
    """`value` if it is one of `choices`, else ParameterError."""
    if value not in choices:
        raise ParameterError(f"parameter {name}={value!r} is not allowed; choose one of: "
                             + ", ".join(repr(c) for c in choices))
    return value


def check_int(name, value, minimum=None, maximum=None):
    """`value` as an int within [minimum, maximum], else ParameterError (bools and 2.5 are refused)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, float, str)):
        raise ParameterError(f"parameter {name}={value!r} must be an integer")
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except ValueError:
        number = None
    if number is None:
        raise ParameterError(f"parameter {name}={value!r} must be an integer")
    _check_range(name, number, minimum, maximum)
    return number


def check_float(name, value, minimum=None, maximum=None):
    """`value` as a finite float within [minimum, maximum], else ParameterError."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise ParameterError(f"parameter {name}={value!r} must be a finite number")
    _check_range(name, number, minimum, maximum)
    return number


def check_int_list(name, value, minimum=None, maximum=None):
    """A comma-separated string ("8,32,128"), a list of ints, or one int (papermill's `-p seeds 0` passes an int)
    -> list of ints, each checked like check_int."""
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, numbers.Integral) and not isinstance(items, bool):
        items = [items]
    if not isinstance(items, (list, tuple)) or not items or any(str(i).strip() == "" for i in items):
        raise ParameterError(f"parameter {name}={value!r} must be a comma-separated list of integers, e.g. '8,32'")
    return [check_int(f"{name} (item {i + 1})", str(item).strip() if isinstance(item, str) else item,
                      minimum, maximum) for i, item in enumerate(items)]


def _check_range(name, number, minimum, maximum):
    if minimum is not None and number < minimum:
        raise ParameterError(f"parameter {name}={number} is too small: it must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise ParameterError(f"parameter {name}={number} is too large: it must be at most {maximum}")


def resolve_data_dir(data_dir):
    """`data_dir` as a Path, or None for the default dataset ("" means: data/databaserelease2 if present, else
    the embedded sample). A folder that does not exist is a ParameterError."""
    if not data_dir:
        return None
    path = Path(data_dir).expanduser()
    if not path.is_absolute():
        path = paths.REPO_ROOT / path
    if not path.is_dir():
        raise ParameterError(f"parameter data_dir={data_dir!r}: no folder at {path}. Give a LIVE-shaped folder, "
                             f"a folder of images, or '' for the default dataset.")
    return path


def resolve_output_dir(output_dir, notebook):
    """Where a notebook writes its metrics and figures: `output_dir`, or runs/interactive/<notebook> when empty.
    Relative paths are taken from the repository root (notebooks run in their own folder)."""
    path = Path(output_dir).expanduser() if output_dir else paths.RUNS_DIR / "interactive" / notebook
    if not path.is_absolute():
        path = paths.REPO_ROOT / path
    path.mkdir(parents=True, exist_ok=True)
    return path
