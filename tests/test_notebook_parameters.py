"""tools.notebook_parameters: a parameter file's names and values checked against what a notebook declares (its
type, and the range or choices its comment allows), as tools.run, tools.sweep and tools.course check them."""

import pytest

from helpers.params import ParameterError
from tools.notebook_parameters import (check_name, checked_value, convert, notebook_parameters, parameter_type,
                                       split_values)


def _notebook(path, parameters):
    """A notebook whose `parameters` cell is `parameters` ("" for a notebook without one)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"] if parameters else []})]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def test_notebook_parameters_in_the_cells_order_and_none_without_a_parameters_cell(tmp_path):
    declared = notebook_parameters(_notebook(tmp_path / "a.ipynb", 'size: int = 2  # a side\nlabel: str = "x"'))
    assert list(declared) == ["size", "label"] and declared["size"]["help"] == "a side"
    assert notebook_parameters(_notebook(tmp_path / "b.ipynb", "")) == {}


def test_a_bad_name_or_value_is_a_parameter_error_naming_it(tmp_path):
    """Before: these lived in tools.sweep and raised its SweepError; tools.run did not check values at all."""
    declared = notebook_parameters(_notebook(tmp_path / "a.ipynb", "image_size: int = 64  # side in pixels"))
    with pytest.raises(ParameterError, match=r"^p.yaml: image_size=big is not a valid int \(give a whole number\); "
                                             r"the notebook declares image_size: int = 64  # side in pixels$"):
        checked_value("image_size", "big", declared, "p.yaml")
    with pytest.raises(ParameterError, match=r"a.ipynb has no parameter 'image_sise' in --grid \(did you mean "
                                             r"image_size\?\); it has: image_size"):
        check_name("image_sise", declared, tmp_path / "a.ipynb", "--grid")
    assert checked_value("image_size", "32", declared, "p.yaml") == 32


def test_a_value_outside_the_declared_range_or_choices_is_refused_naming_both(tmp_path):
    declared = notebook_parameters(_notebook(tmp_path / "a.ipynb", 'image_size: int = 64  # side (16 to 512)\n'
                                                                    'target: str = "x"  # kind (one of: x, y)'))
    with pytest.raises(ParameterError, match=r"^p.yaml: parameter image_size=4 is too small: it must be at least "
                                             r"16; the notebook declares image_size: int = 64"):
        checked_value("image_size", 4, declared, "p.yaml")
    with pytest.raises(ParameterError, match=r"parameter target='z' is not allowed; choose one of: 'x', 'y'"):
        checked_value("target", "z", declared, "p.yaml")
    assert checked_value("target", "y", declared, "p.yaml") == "y"


@pytest.mark.parametrize("type_name, text, expected", [
    ("int", "16", 16), ("int", "1e3", 1000), ("int", "8.0", 8), ("float", "1e-3", 0.001), ("float", "2", 2.0),
    ("bool", "true", True), ("bool", "No", False), ("bool", "1", True), ("bool", "0", False),
    ("str", "relu", "relu"), ("str", "'8,32'", "8,32"), ("str", "12", "12"),
    ("list[int]", "[8]", [8]), ("list[int]", "[8, 32]", [8, 32]), ("List[float]", "[1, 2.5]", [1.0, 2.5]),
    ("Optional[int]", "none", None), ("Optional[int]", "8", 8), ("int|None", "null", None),
    ("Union[int,None]", "3", 3), ("Path", "a/b", "a/b"),
])
def test_typed_text_converts_to_the_annotated_type(type_name, text, expected):
    value = convert(text, type_name)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("type_name, value", [
    ("int", "abc"), ("int", "1.5"), ("int", True), ("int", "[1"), ("float", "fast"), ("float", "nan"),
    ("bool", "maybe"), ("bool", 2), ("list[int]", "3"), ("list[int]", "[1, x]"), ("str", [1]), ("str", True),
    ("Optional[int]", "many"),
])
def test_bad_values_are_refused(type_name, value):
    with pytest.raises(ValueError):
        convert(value, type_name)


def test_yaml_values_and_unannotated_parameters():
    assert convert(1, "float") == 1.0 and convert(16.0, "int") == 16 and convert(3, "str") == "3"
    assert parameter_type({"inferred_type_name": "None", "default": "12"}) == "int"
    assert parameter_type({"inferred_type_name": "None", "default": "0.5"}) == "float"
    assert parameter_type({"inferred_type_name": "typing.Optional[int]", "default": "None"}) == "Optional[int]"


def test_split_values_respects_brackets_and_quotes():
    assert split_values("1,2, 3") == ["1", "2", "3"]
    assert split_values("[8],[8,32]") == ["[8]", "[8,32]"]
    assert split_values("'a,b',c") == ["'a,b'", "c"]
    with pytest.raises(ParameterError, match="not closed"):
        split_values("[1,2")
