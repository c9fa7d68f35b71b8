"""What a notebook declares, for the commands that run notebooks: a parameter file or a --grid value is checked
against the notebook's `parameters` cell (names, types, ranges and choices) before anything runs.

``tools.run``, ``tools.sweep`` and ``tools.course`` all check a value the same way, :func:`checked_value`: the
value (a YAML value, or the text typed after ``--grid NAME=``) is converted to the annotated type (:func:`convert`),
then checked against the range or choices the parameter's comment declares (``helpers.params.Declaration``), as
the notebook's own setup call would check it.
"""

import ast
import difflib
import math
import re
from pathlib import Path

from helpers.params import ParameterError, declarations, parameters_cell

OUTPUT_PARAM = "output_dir"     # the parameter a command sets itself (each run's own folder)


def notebook_parameters(notebook):
    """{name: papermill's description (inferred_type_name, default, help)} of the notebook's `parameters` cell,
    in the cell's order, each with its ``declaration`` (``helpers.params.Declaration``: type, range, choices) when
    the cell declares it the kit's way; {} when the notebook has no such cell."""
    import papermill

    described = papermill.inspect_notebook(str(notebook))
    try:
        declared = declarations(parameters_cell(notebook))
    except (ValueError, SyntaxError):
        declared = {}
    return {name: {**info, "declaration": declared.get(name)} for name, info in described.items()}


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
    declaration = f"{name}: {type_name} = {description.get('default')}  # {description.get('help')}"
    try:
        converted = convert(value, type_name)
    except ValueError as error:
        raise ParameterError(f"{where}: {name}={value} is not a valid {type_name} ({error}); "
                             f"the notebook declares {declaration}") from None
    if description.get("declaration") is None:
        return converted
    try:
        return description["declaration"].check(converted)
    except ParameterError as error:
        raise ParameterError(f"{where}: {error}; the notebook declares {declaration}") from None
