"""Notebook parameters: each declared once, in the notebook's `parameters` cell, and all checked by one call.

A `parameters` cell declares every parameter on one line: its name, type and default, and a comment that says what
it does and ends with what it allows, in parentheses::

    epochs: int = 40  # passes over the training patches (at least 1)
    lr: float = 0.001  # peak learning rate (1e-6 to 1)
    schedule: str = "onecycle"  # learning rate over the epochs (one of: onecycle, constant)
    latent_dims: list[int] = [8, 32, 64, 128]  # the latent sizes, one model each (each at least 1)

The allowed part reads ``(A to B)``, ``(at least A)``, ``(at most B)`` or ``(one of: x, y, z)``; for a list, each
item must satisfy it. A comment without it allows any value of the type. The cell after the parameters calls::

    run = setup(globals(), "03_baseline")

:func:`setup` checks every declared value against its type and range (a bad value stops the notebook with a message
that names it and says what is allowed), converts it in place (papermill's ``-p latent_dims 8,32`` gives
``[8, 32]``), and returns the notebook's :class:`helpers.record.Run`: where the data is (``run.data_dir``), where its
outputs go (``run.out``), and ``run.keep`` / ``run.claim`` / ``run.figure``. ``papermill --help-notebook`` shows
the same comments; the commands that run notebooks (``tools.run``, ``tools.sweep``, ``tools.course``) check a
parameter file against the same declarations (:func:`declarations`) before anything runs.

The single-value checks (:func:`check_int`, :func:`check_float`, :func:`check_choice`, ...) are usable on their
own, e.g. for a value known only later (an image index once the images are listed).
"""

from __future__ import annotations

import ast
import io
import math
import numbers
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import paths


class ParameterError(ValueError):
    """A notebook parameter with a bad value; the message names it and says what is allowed."""


# -- one value ----------------------------------------------------------------------------------------------------
def check_choice(name: str, value: Any, choices) -> Any:
    """``value`` if it is one of ``choices``, else ParameterError."""
    if value not in choices:
        raise ParameterError(f"parameter {name}={value!r} is not allowed; choose one of: "
                             + ", ".join(repr(c) for c in choices))
    return value


def check_int(name: str, value: Any, minimum: float | None = None, maximum: float | None = None) -> int:
    """``value`` as an int within [minimum, maximum], else ParameterError (bools and 2.5 are refused)."""
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


def check_float(name: str, value: Any, minimum: float | None = None, maximum: float | None = None) -> float:
    """``value`` as a finite float within [minimum, maximum], else ParameterError."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise ParameterError(f"parameter {name}={value!r} must be a finite number")
    _check_range(name, number, minimum, maximum)
    return number


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is True or False (numpy's too), else ParameterError: "yes", 1 and "False" are refused."""
    if not isinstance(value, (bool, getattr(sys.modules.get("numpy"), "bool_", bool))):
        raise ParameterError(f"parameter {name}={value!r} must be True or False")
    return bool(value)


def check_int_list(name: str, value: Any, minimum: float | None = None, maximum: float | None = None) -> list[int]:
    """A comma-separated string ("8,32,128"), a list of ints, or one int (papermill's `-p seeds 0` passes an int)
    -> list of ints, each checked like check_int."""
    items = _list_items(name, value, numbers.Integral, "integers, e.g. '8,32'")
    return [check_int(f"{name} (item {i + 1})", item, minimum, maximum) for i, item in enumerate(items)]


def check_float_list(name: str, value: Any, minimum: float | None = None, maximum: float | None = None
                     ) -> list[float]:
    """A comma-separated string ("0.01,0.005"), a list of numbers, or one number (papermill's `-p lambdas 0.004`
    passes a float) -> list of floats, each checked like check_float."""
    items = _list_items(name, value, numbers.Real, "numbers, e.g. '0.01,0.005'")
    return [check_float(f"{name} (item {i + 1})", item, minimum, maximum) for i, item in enumerate(items)]


def _list_items(name: str, value: Any, single: type, example: str) -> list:
    """The items of a list parameter, not yet checked: a string split at commas (each item stripped), a list or
    tuple as it is, one `single` number (not a bool) as a list of one; an empty list or item is a ParameterError."""
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, single) and not isinstance(items, bool):
        items = [items]
    if not isinstance(items, (list, tuple)) or not items or any(str(i).strip() == "" for i in items):
        raise ParameterError(f"parameter {name}={value!r} must be a comma-separated list of {example}")
    return [item.strip() if isinstance(item, str) else item for item in items]


def _check_range(name: str, number: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and number < minimum:
        raise ParameterError(f"parameter {name}={number} is too small: it must be at least {minimum:g}")
    if maximum is not None and number > maximum:
        raise ParameterError(f"parameter {name}={number} is too large: it must be at most {maximum:g}")


# -- a parameters cell's declarations -----------------------------------------------------------------------------
TYPES = ("int", "float", "str", "bool", "list[int]", "list[float]")

_ALLOWED = re.compile(r"\((?:each )?(?:(?P<low>\S+) to (?P<high>\S+)|at least (?P<least>\S+)|at most (?P<most>\S+)"
                      r"|one of: (?P<choices>[^()]+))\)\s*$")


@dataclass(frozen=True)
class Declaration:
    """One line of a `parameters` cell: ``name: type = default  # help (allowed)``."""

    name: str
    type: str                          # one of TYPES
    default: Any                       # the literal written in the cell
    help: str                          # the whole comment, allowed part included
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None

    def check(self, value: Any) -> Any:
        """``value`` converted to this parameter's type and checked against its range or choices; a ParameterError
        naming the parameter and what it allows otherwise."""
        if self.type == "int":
            return check_int(self.name, value, self.minimum, self.maximum)
        if self.type == "float":
            return check_float(self.name, value, self.minimum, self.maximum)
        if self.type == "list[int]":
            return check_int_list(self.name, value, self.minimum, self.maximum)
        if self.type == "list[float]":
            return check_float_list(self.name, value, self.minimum, self.maximum)
        if self.type == "bool":
            return check_bool(self.name, value)
        if not isinstance(value, str):
            raise ParameterError(f"parameter {self.name}={value!r} must be a text")
        return check_choice(self.name, value, self.choices) if self.choices else value


def declarations(source: str) -> dict[str, Declaration]:
    """The :class:`Declaration` of every ``name: type = default  # help`` line of a `parameters` cell's source, in
    order. A line with another type, a default that is not a literal, or an allowed part that does not parse is a
    ``ValueError`` naming the line (the kit's own test runs this on every notebook)."""
    comments = {t.start[0]: t.string.lstrip("#").strip()
                for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT}
    declared = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None):
            continue
        name, kind = node.target.id, ast.unparse(node.annotation).replace(" ", "")
        if kind not in TYPES:
            raise ValueError(f"parameter {name}: type {kind!r} is not one of {', '.join(TYPES)}")
        help_text = comments.get(node.lineno, "")
        declared[name] = Declaration(name, kind, ast.literal_eval(node.value), help_text, *_allowed(name, kind,
                                                                                                    help_text))
    return declared


def _allowed(name: str, kind: str, help_text: str) -> tuple[float | None, float | None, tuple[str, ...] | None]:
    """(minimum, maximum, choices) from the allowed part at the end of a comment (all None when there is none)."""
    match = _ALLOWED.search(help_text)
    if match is None:
        return None, None, None
    if match["choices"]:
        if kind != "str":
            raise ValueError(f"parameter {name}: 'one of:' is for a str parameter, not {kind}")
        return None, None, tuple(c.strip() for c in match["choices"].split(","))
    if kind not in ("int", "float", "list[int]", "list[float]"):
        raise ValueError(f"parameter {name}: a range is for numbers, not {kind}")
    low, high = match["low"] or match["least"], match["high"] or match["most"]
    try:
        return (float(low) if low else None), (float(high) if high else None), None
    except ValueError:
        raise ValueError(f"parameter {name}: cannot read the range in {help_text!r}") from None


def parameters_cell(notebook: str | Path) -> str:
    """The source of the notebook file's cell tagged `parameters` ("" when it has none)."""
    import nbformat        # here, not at the top: a student's `import helpers` stays fast

    cells = nbformat.read(str(notebook), as_version=4).cells
    return next((c.source for c in cells if "parameters" in c.metadata.get("tags", [])), "")


# -- the setup call -----------------------------------------------------------------------------------------------
def setup(namespace: dict, notebook: str, *, history: list[str] | None = None):
    """Check every parameter the `parameters` cell declared, in place, and start the notebook's run record.

    ``namespace``: the notebook's ``globals()``; each declared name is replaced by its checked, converted value.
    ``notebook``: the notebook's name (e.g. ``"03_baseline"``): its default output folder is
    ``runs/interactive/<notebook>``. ``history``: the sources of the cells run so far (default: this IPython
    kernel's input history); the latest cell that declares parameters is the one checked (outside IPython, with
    no such cell in ``history``: the `parameters` cell of ``solutions/<notebook>.ipynb``).
    Returns a :class:`helpers.record.Run` for ``data_dir`` and ``output_dir`` (see :func:`resolve_data_dir` and
    :func:`resolve_output_dir`), which knows whether every value but ``output_dir`` is its stored default
    (``run.at_defaults``: the lesson's claims are written for those).
    Raises ParameterError for an unknown name papermill was given, or for a bad value.
    """
    from helpers.record import Run

    history = _input_history() if history is None else history
    check_parameter_names(history)
    cell = next((h for h in reversed(history) if _is_parameters_cell(h)), None)
    if cell is None:
        cell = _stored_parameters_cell(notebook)      # outside IPython (a test, a script): the notebook's file
    if cell is None:
        raise ParameterError("no parameters cell has run yet: run the notebook's cells from the top")
    declared = declarations(cell)
    missing = [name for name in declared if name not in namespace]
    if missing:
        raise ParameterError(f"{', '.join(missing)} not defined: run the parameters cell, then this one")
    for name, declaration in declared.items():
        namespace[name] = declaration.check(namespace[name])
    at_defaults = all(namespace[name] == d.check(d.default) for name, d in declared.items() if name != "output_dir")
    return Run(resolve_output_dir(namespace.get("output_dir", ""), notebook), notebook=notebook,
               data_dir=resolve_data_dir(namespace.get("data_dir", "")), at_defaults=at_defaults,
               parameters={name: namespace[name] for name in declared})


def _stored_parameters_cell(notebook: str) -> str | None:
    """The `parameters` cell of the notebook's file in solutions/ (else notebooks/), or None when neither exists."""
    for folder in (paths.SOLUTIONS_DIR, paths.NOTEBOOKS_DIR):
        path = Path(folder) / f"{notebook}.ipynb"
        if path.is_file():
            return parameters_cell(path) or None
    return None


# -- names papermill was given, and the two folders ----------------------------------------------------------------
def check_parameter_names(history=None):
    """Stop when papermill was given a parameter name the notebook's `parameters` cell does not declare.

    papermill itself only warns ("Passed unknown parameter") and runs on the defaults, so a misspelt name
    (`-p epoch 40` for `epochs`) would quietly train for the default number of epochs. Each notebook calls this in
    the cell right after its `parameters` cell. At that moment the kernel's input history holds, in order: the
    `parameters` cell (the declarations, `epochs: int = 25  # help`), papermill's injected cell (which starts with
    the comment `# Parameters` and assigns the values it was given) and the current cell. Both are parsed with `ast`.

    `history`: the sources of the cells run so far, oldest first (default: this IPython kernel's input history).
    Does nothing outside IPython (plain python, pytest) and when papermill injected nothing. Names papermill adds
    itself (`PAPERMILL_INPUT_PATH`, `PAPERMILL_OUTPUT_PATH` with `--inject-paths`) are allowed.
    """
    if history is None:
        history = _input_history()
    injected = [i for i, source in enumerate(history) if _injected_names(source) is not None]
    if not injected or injected[-1] == 0:
        return
    at = injected[-1]
    declared = _declared_names(history[at - 1])
    if not declared:  # the cell before the injected one declares nothing: no parameters cell to compare with
        return
    unknown = [n for n in _injected_names(history[at]) if n not in declared and not n.startswith("PAPERMILL_")]
    if unknown:
        raise ParameterError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(repr(n) for n in unknown)}: this notebook "
            f"declares {', '.join(declared)}. papermill only warns about a name a notebook does not declare and "
            f"runs on the defaults; check the spelling (`papermill --help-notebook NOTEBOOK` lists the parameters)."
        )


def _input_history():
    """The sources of the cells this IPython kernel has run, oldest first; [] outside IPython."""
    ipython = sys.modules.get("IPython")  # a kernel has loaded it; plain python has not (and need not have it)
    shell = ipython.get_ipython() if ipython is not None else None
    return list(shell.history_manager.input_hist_raw) if shell is not None else []


def _declared_names(source):
    """Names a `parameters` cell declares (`name: type = value`, or a plain `name = value`), in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    if not any(isinstance(node, ast.AnnAssign) for node in tree.body):
        return []  # the kit's parameters cells annotate every name: a cell without annotations is not one
    return list(dict.fromkeys(names))


def _is_parameters_cell(source: str) -> bool:
    """True when every statement of ``source`` is ``name: type = literal`` (a `parameters` cell, not a cell that
    happens to annotate one name among other code)."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    def literal(node):
        try:
            ast.literal_eval(node)
            return True
        except ValueError:
            return False
    return bool(body) and all(isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.value is not None
                              and literal(n.value) for n in body)


def _injected_names(source):
    """The names papermill's injected cell assigns, or None if `source` is not such a cell: its first line is
    `# Parameters` and it holds nothing but `name = value` lines."""
    lines = source.strip().splitlines()
    if not lines or lines[0].strip() != "# Parameters":
        return None
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    if not all(isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
               for node in tree.body):
        return None
    return [node.targets[0].id for node in tree.body]


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
