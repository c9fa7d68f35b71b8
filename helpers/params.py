"""Checks for notebook parameters: each notebook validates its `parameters` cell with these, so a bad value
(from papermill's -p, a sweep, or a typo) stops at once with a message that names it and says what is allowed.

A notebook's setup cell checks all its parameters with one table, a row per parameter (see check_parameters):

    check_parameter_names()   # a name papermill was given that the parameters cell does not declare: stop
    epochs, target, latent_dims = check_parameters({
        # name          value         type       range or choices
        "epochs":      (epochs,      int,       1, None),
        "target":      (target,      str,       ["original", "jpeg"]),
        "latent_dims": (latent_dims, list[int], 1, None),    # "8,32,128" -> [8, 32, 128]
    })

Each row calls one single-value check, usable on its own too: check_int, check_float, check_int_list,
check_float_list, check_choice.

The last section, "what a notebook declares", is for the commands that run notebooks (tools.run, tools.sweep): a
notebook's declared parameters (papermill.inspect_notebook) and a given value converted to a parameter's annotated
type, so both commands check a value the same way before anything runs.
"""

import ast
import difflib
import math
import numbers
import re
import sys
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
    items = _list_items(name, value, numbers.Integral, "integers, e.g. '8,32'")
    return [check_int(f"{name} (item {i + 1})", item, minimum, maximum) for i, item in enumerate(items)]


def check_float_list(name, value, minimum=None, maximum=None):
    """A comma-separated string ("0.01,0.005"), a list of numbers, or one number (papermill's `-p lambdas 0.004`
    passes a float) -> list of floats, each checked like check_float."""
    items = _list_items(name, value, numbers.Real, "numbers, e.g. '0.01,0.005'")
    return [check_float(f"{name} (item {i + 1})", item, minimum, maximum) for i, item in enumerate(items)]


def _list_items(name, value, single, example):
    """The items of a list parameter, not yet checked: a string split at commas (each item stripped), a list or
    tuple as it is, one `single` number (not a bool) as a list of one; an empty list or item is a ParameterError."""
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, single) and not isinstance(items, bool):
        items = [items]
    if not isinstance(items, (list, tuple)) or not items or any(str(i).strip() == "" for i in items):
        raise ParameterError(f"parameter {name}={value!r} must be a comma-separated list of {example}")
    return [item.strip() if isinstance(item, str) else item for item in items]


def _check_range(name, number, minimum, maximum):
    if minimum is not None and number < minimum:
        raise ParameterError(f"parameter {name}={number} is too small: it must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise ParameterError(f"parameter {name}={number} is too large: it must be at most {maximum}")


# One row of a parameter table: the type column names the check that reads the value.
ROW_CHECKS = {int: check_int, float: check_float, list[int]: check_int_list, list[float]: check_float_list}


def check_parameters(table):
    """Check a notebook's whole parameter table; returns the checked values, a tuple in the table's order.

    `table` maps each parameter's name to its row, one of:
        (value, int, minimum, maximum)          check_int: 64, 64.0 or "64" -> 64
        (value, float, minimum, maximum)        check_float: 0.001 or "1e-3" -> 0.001
        (value, list[int], minimum, maximum)    check_int_list: "8,32", [8, 32] or 8 -> a list of ints
        (value, list[float], minimum, maximum)  check_float_list: "0.01,0.005" -> a list of floats
        (value, str, choices)                   check_choice: the value if it is one of the choices
    `minimum` and `maximum` are inclusive; None means no bound. The first bad value stops with its check's
    ParameterError (it names the parameter, the value and what is allowed); a malformed row is a TypeError.
    """
    checked = []
    for name, row in table.items():
        if not isinstance(row, tuple) or len(row) not in (3, 4):
            raise TypeError(f"parameter table row {name!r}: {row!r} is not (value, type, minimum, maximum) "
                            f"or (value, str, choices)")
        value, kind, *limits = row
        if kind is str and len(limits) == 1:
            checked.append(check_choice(name, value, limits[0]))
        elif kind in ROW_CHECKS and len(limits) == 2:
            checked.append(ROW_CHECKS[kind](name, value, *limits))
        else:
            raise TypeError(f"parameter table row {name!r}: type {kind!r} with {len(limits)} limit(s); use int, "
                            f"float, list[int] or list[float] with minimum and maximum, or str with a list of choices")
    return tuple(checked)


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


# -- what a notebook declares: its parameters and their types (for tools.run and tools.sweep) ---------------------

OUTPUT_PARAM = "output_dir"     # the parameter a command sets itself (each run's own folder)


def notebook_parameters(notebook):
    """{name: papermill's description (inferred_type_name, default, help)} of the notebook's `parameters` cell,
    in the cell's order; {} when the notebook has no such cell."""
    import papermill        # here, not at the top: a student's `import helpers` stays fast

    return papermill.inspect_notebook(str(notebook))


def parameter_type(description):
    """The annotation as a string ("int", "list[int]", "Optional[float]"); for an unannotated parameter, the
    type of its default ("x = 3" gives "int")."""
    annotation = description.get("inferred_type_name") or "None"
    if annotation != "None":
        return annotation.replace("typing.", "").replace(" ", "")
    try:
        default = ast.literal_eval(description.get("default", ""))
    except (ValueError, SyntaxError):
        return "any"
    return type(default).__name__ if default is not None else "any"


def convert(value, type_name):
    """`value` (a YAML value, or the text typed after --grid NAME=) as the type `type_name` names.
    Raises ValueError with a hint when it does not fit."""
    import yaml

    optional = re.fullmatch(r"Optional\[(.+)\]|(.+)\|None|None\|(.+)|Union\[(.+),None\]", type_name)
    if optional:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "~")):
            return None
        type_name = next(group for group in optional.groups() if group)
    if type_name == "str":
        if isinstance(value, str):          # typed text: a quoted value loses its quotes, 'a,b' -> a,b
            quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""
            return value[1:-1] if quoted else value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ValueError("give a text")
    if isinstance(value, str):              # typed text of another type: read it as YAML (8, 1e-3, [8, 32], true)
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ValueError("a bracket or quote is not closed") from None
    if type_name == "bool":
        if value in (0, 1) and not isinstance(value, float):   # true/false/yes/no are already bools in YAML
            return bool(value)
        raise ValueError("use true or false")
    if type_name == "int":
        number = _number(value)
        if number is None or not number.is_integer():
            raise ValueError("give a whole number")
        return int(number)
    if type_name == "float":
        number = _number(value)
        if number is None:
            raise ValueError("give a number")
        return number
    listed = re.fullmatch(r"(?:list|List|tuple|Tuple|Sequence)(?:\[(\w+)(?:,\.\.\.)?\])?", type_name)
    if listed:
        if not isinstance(value, list):
            raise ValueError("write a list in brackets, e.g. [8, 32]")
        return [convert(item, listed.group(1)) for item in value] if listed.group(1) else value
    if type_name in ("dict", "Dict") and not isinstance(value, dict):
        raise ValueError("write a mapping in braces, e.g. {a: 1}")
    return value                            # any other annotation (Path, Any...): the value as YAML reads it


def _number(value):
    """`value` as a finite float, or None (bools and texts that are not numbers are not numbers)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)               # YAML reads 1e-3 as text: float() reads it
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def split_values(text):
    """Split V1,V2,... on the commas outside brackets and quotes: "[1,2],[3]" is two values."""
    values, current, depth, quote = [], "", 0, None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            values.append(current.strip())
            current = ""
            continue
        current += char
    if quote or depth:
        raise ParameterError(f"--grid ...={text}: a bracket or quote is not closed")
    return values + [current.strip()]


def check_name(name, declared, notebook, where):
    """ParameterError when `name` is not one of the `declared` parameters (with the closest name and the list), or
    is output_dir, which the command sets itself. `where` says where the name was given (a file, --grid)."""
    if name == OUTPUT_PARAM and name in declared:
        raise ParameterError(f"{name} in {where} is set by the sweep (each run's own folder): leave it out")
    if name not in declared:
        close = difflib.get_close_matches(name, declared, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        names = ", ".join(n for n in declared if n != OUTPUT_PARAM)
        raise ParameterError(f"{Path(notebook).name} has no parameter {name!r} in {where}{hint}; it has: {names}")


def checked_value(name, value, declared, where):
    """`value` converted to the type of parameter `name`; a ParameterError naming both when it does not fit."""
    description = declared[name]
    type_name = parameter_type(description)
    try:
        return convert(value, type_name)
    except ValueError as error:
        declaration = f"{name}: {type_name} = {description.get('default')}  # {description.get('help')}"
        raise ParameterError(f"{where}: {name}={value} is not a valid {type_name} ({error}); "
                             f"the notebook declares {declaration}") from None
