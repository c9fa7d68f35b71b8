"""helpers.params: notebook parameter checks that fail clearly, and data/output folder resolution."""

import math

import numpy as np
import pytest

from helpers import paths
from helpers.params import (ParameterError, check_choice, check_float, check_float_list, check_int, check_int_list,
                            check_parameter_names, check_parameters, resolve_data_dir, resolve_output_dir)


def test_parameter_error_is_a_value_error():
    assert issubclass(ParameterError, ValueError)


# ------------------------------------------------------------------------------------------------------ check_choice
def test_check_choice_returns_an_allowed_value():
    assert check_choice("target", "jpeg", ["original", "jpeg"]) == "jpeg"
    assert check_choice("codec", "webp", ("jpeg", "webp")) == "webp"


def test_check_choice_names_the_parameter_and_lists_the_choices():
    with pytest.raises(ParameterError) as error:
        check_choice("target", "png", ["original", "jpeg"])
    message = str(error.value)
    assert "target='png'" in message
    assert "'original', 'jpeg'" in message


def test_check_choice_is_case_sensitive():
    with pytest.raises(ParameterError):
        check_choice("target", "JPEG", ["original", "jpeg"])


# --------------------------------------------------------------------------------------------------------- check_int
@pytest.mark.parametrize("value, want", [(3, 3), (0, 0), (-2, -2), (4.0, 4), ("7", 7), (" 12 ", 12),
                                         (np.int64(5), 5), (np.float64(6.0), 6)])
def test_check_int_accepts_integers_in_any_plain_form(value, want):
    got = check_int("epochs", value)
    assert got == want and type(got) is int


@pytest.mark.parametrize("value", [2.5, "2.5", "three", "", None, True, False, math.nan, math.inf, [3], np.bool_(True)])
def test_check_int_refuses_non_integers(value):
    with pytest.raises(ParameterError, match=r"parameter epochs=.* must be an integer"):
        check_int("epochs", value)


def test_check_int_range_is_inclusive():
    assert check_int("epochs", 1, minimum=1, maximum=10) == 1
    assert check_int("epochs", 10, minimum=1, maximum=10) == 10
    with pytest.raises(ParameterError, match="epochs=0 is too small: it must be at least 1"):
        check_int("epochs", 0, minimum=1)
    with pytest.raises(ParameterError, match="epochs=11 is too large: it must be at most 10"):
        check_int("epochs", "11", maximum=10)


# ------------------------------------------------------------------------------------------------------- check_float
@pytest.mark.parametrize("value, want", [(0.5, 0.5), (3, 3.0), ("1e-3", 1e-3), (" 2.5 ", 2.5), (np.float32(0.25), 0.25)])
def test_check_float_accepts_finite_numbers(value, want):
    got = check_float("lr", value)
    assert got == pytest.approx(want) and isinstance(got, float)


@pytest.mark.parametrize("value", ["nan", math.nan, math.inf, -math.inf, "inf", "fast", "", None, True, [0.1]])
def test_check_float_refuses_non_finite_and_non_numbers(value):
    with pytest.raises(ParameterError, match=r"parameter lr=.* must be a finite number"):
        check_float("lr", value)


def test_check_float_range():
    assert check_float("dropout", 0.0, minimum=0.0, maximum=0.9) == 0.0
    with pytest.raises(ParameterError, match="dropout=0.95 is too large: it must be at most 0.9"):
        check_float("dropout", 0.95, minimum=0.0, maximum=0.9)
    with pytest.raises(ParameterError, match="too small"):
        check_float("lr", "-1e-3", minimum=0)


# ---------------------------------------------------------------------------------------------------- check_int_list
@pytest.mark.parametrize("value, want", [("8,32,128", [8, 32, 128]), (" 8 , 32 ", [8, 32]), ("64", [64]),
                                         ([8, 32], [8, 32]), ((4, "16"), [4, 16]), ([2.0], [2])])
def test_check_int_list_parses_strings_and_sequences(value, want):
    assert check_int_list("latent_dims", value) == want


def test_check_int_list_accepts_a_single_integer():
    """papermill's `-p latent_dims 64` and a YAML `latent_dims: 64` both pass the int 64, not the string "64"."""
    assert check_int_list("latent_dims", 64) == [64]
    assert check_int_list("latent_dims", np.int64(16), minimum=1) == [16]


@pytest.mark.parametrize("value", ["", "8,,32", "8,32,", ",", [], (), None, {"a": 1}, True])
def test_check_int_list_refuses_empty_items_and_other_types(value):
    with pytest.raises(ParameterError, match="latent_dims"):
        check_int_list("latent_dims", value)


def test_check_int_list_names_the_bad_item_and_checks_each_range():
    with pytest.raises(ParameterError, match=r"latent_dims \(item 2\)='x' must be an integer"):
        check_int_list("latent_dims", "8,x,32")
    with pytest.raises(ParameterError, match=r"latent_dims \(item 3\)=0 is too small"):
        check_int_list("latent_dims", [8, 4, 0], minimum=1)
    with pytest.raises(ParameterError, match=r"item 1"):
        check_int_list("latent_dims", [2.5])


# -------------------------------------------------------------------------------------------------- check_float_list
@pytest.mark.parametrize("value, want", [("0.01,0.005", [0.01, 0.005]), (" 0.01 , 1e-3 ", [0.01, 0.001]),
                                         ([0.008, 0.004], [0.008, 0.004]), ((1, "0.5"), [1.0, 0.5])])
def test_check_float_list_parses_strings_and_sequences(value, want):
    got = check_float_list("lambdas", value)
    assert got == want and all(type(v) is float for v in got)


def test_check_float_list_accepts_a_single_number():
    """papermill's `-p lambdas 0.004` passes the float 0.004, not a list (notebook 08 stopped with a TypeError)."""
    assert check_float_list("lambdas", 0.004) == [0.004]
    assert check_float_list("lambdas", 1) == [1.0]


@pytest.mark.parametrize("value", ["", "0.1,,0.2", "0.1,", [], None, {"a": 1}, True])
def test_check_float_list_refuses_empty_items_and_other_types(value):
    with pytest.raises(ParameterError, match=r"parameter lambdas=.* must be a comma-separated list of numbers"):
        check_float_list("lambdas", value)


def test_check_float_list_names_the_bad_item_and_checks_each_range():
    with pytest.raises(ParameterError, match=r"lambdas \(item 2\)='x' must be a finite number"):
        check_float_list("lambdas", "0.1,x")
    with pytest.raises(ParameterError, match=r"lambdas \(item 3\)=2.0 is too large: it must be at most 1.0"):
        check_float_list("lambdas", [0.1, 0.2, 2], minimum=1e-5, maximum=1.0)


# -------------------------------------------------------------------------------------------------- check_parameters
# A table like a notebook's setup cell holds, at values like the ones papermill passes (strings, ints for floats).
def table(**values):
    row = {"image_size": ("64", int, 16, 512), "lr": (1, float, 1e-6, 1.0), "seeds": ("0,1", list[int], 0, None),
           "lambdas": ("0.01,0.005", list[float], 1e-5, 1.0), "target": ("jpeg", str, ["original", "jpeg"])}
    for name, value in values.items():
        row[name] = (value, *row[name][1:])
    return row


def test_check_parameters_returns_each_row_checked_and_converted_in_the_table_order():
    got = check_parameters(table())
    assert got == (64, 1.0, [0, 1], [0.01, 0.005], "jpeg")
    assert [type(v) for v in got] == [int, float, list, list, str]


def test_check_parameters_keeps_values_that_are_already_right():
    """The notebooks' stored defaults: each comes back equal and of the same type (an int stays an int)."""
    defaults = {"image_size": (224, int, 8, None), "lr": (0.001, float, 1e-6, 1.0),
                "seeds": ([0, 1, 2], list[int], 0, None), "lambdas": ([0.008, 0.004], list[float], 1e-5, 1.0),
                "target": ("original", str, ["original", "jpeg"])}
    got = check_parameters(defaults)
    assert got == tuple(row[0] for row in defaults.values())
    assert [type(v) for v in got] == [type(row[0]) for row in defaults.values()]


@pytest.mark.parametrize("name, bad, message", [
    ("image_size", "-3", "parameter image_size=-3 is too small: it must be at least 16"),
    ("image_size", 2.5, "parameter image_size=2.5 must be an integer"),
    ("image_size", 1024, "parameter image_size=1024 is too large: it must be at most 512"),
    ("lr", "fast", "parameter lr='fast' must be a finite number"),
    ("lr", 3, "parameter lr=3.0 is too large: it must be at most 1.0"),
    ("seeds", "0,-1", r"parameter seeds \(item 2\)=-1 is too small: it must be at least 0"),
    ("seeds", "", "parameter seeds='' must be a comma-separated list of integers"),
    ("lambdas", "0.01,2", r"parameter lambdas \(item 2\)=2.0 is too large: it must be at most 1.0"),
    ("target", "png", "parameter target='png' is not allowed; choose one of: 'original', 'jpeg'"),
])
def test_check_parameters_stops_at_a_bad_value_with_its_checks_message(name, bad, message):
    with pytest.raises(ParameterError, match=message):
        check_parameters(table(**{name: bad}))


@pytest.mark.parametrize("row", [
    (64, int, 16),                     # a number without its maximum (None: no bound)
    (64, int),                         # no range at all
    ("jpeg", str, "original", "jpeg"),  # choices not in one list
    (64, bool, 0, 1),                  # a type without a check
    [64, int, 16, 512],                # a list, not a row tuple
])
def test_check_parameters_refuses_a_malformed_row_naming_it(row):
    with pytest.raises(TypeError, match="parameter table row 'image_size'"):
        check_parameters({"image_size": row})


# --------------------------------------------------------------------------------------------- check_parameter_names
# A kernel's input history under papermill: "" first (IPython's In[0]), the cells run before the parameters cell,
# the parameters cell, papermill's injected cell (its exact format: "# Parameters", then one "name = value" a line),
# then the checks cell that calls check_parameter_names().
DECLARED = 'data_dir: str = ""  # a folder\nepochs: int = 25  # passes over the data\nlr: float = 0.001  # learning rate\n'
CHECKS = "from helpers.params import check_parameter_names\ncheck_parameter_names()\n"


def history(injected):
    return ["", "import os", DECLARED, injected, CHECKS]


def test_check_parameter_names_accepts_declared_names():
    check_parameter_names(history("# Parameters\nepochs = 40\nlr = 0.01\n"))
    check_parameter_names(history('# Parameters\ndata_dir = "/tmp/x"\n'))


def test_check_parameter_names_names_the_unknown_name_and_the_declared_ones():
    with pytest.raises(ParameterError) as error:
        check_parameter_names(history("# Parameters\nepoch = 40\nlr = 0.01\n"))
    message = str(error.value)
    assert "unknown parameter 'epoch':" in message
    assert "declares data_dir, epochs, lr" in message and "check the spelling" in message


def test_check_parameter_names_lists_every_unknown_name():
    with pytest.raises(ParameterError, match=r"unknown parameters 'epoch', 'learning_rate'"):
        check_parameter_names(history("# Parameters\nepoch = 40\nlearning_rate = 0.1\nlr = 0.01\n"))


def test_check_parameter_names_allows_the_paths_papermill_injects_itself():
    check_parameter_names(history('# Parameters\nPAPERMILL_INPUT_PATH = "a.ipynb"\nPAPERMILL_OUTPUT_PATH = "b.ipynb"\n'))


@pytest.mark.parametrize("runs", [
    [],  # outside IPython: no history
    ["", DECLARED, CHECKS],  # run interactively: nothing injected
    ["", "# Parameters\nepoch = 40\n", DECLARED, CHECKS],  # no parameters cell before the injected one
    ["", "x = 1", "# Parameters\nepoch = 40\n", CHECKS],  # the cell before holds no declarations
    ["", DECLARED, "# Parameters: my own notes\nepoch = 40\n", CHECKS],  # a user's comment, not papermill's cell
    ["", DECLARED, "# Parameters\nepoch: int = 40\n", CHECKS],  # annotated: a parameters cell, not an injected one
])
def test_check_parameter_names_does_nothing_without_an_injected_cell_after_the_parameters(runs):
    check_parameter_names(runs)


def test_check_parameter_names_reads_the_last_injected_cell():
    """An output notebook run again in JupyterLab: the latest injected cell is the one that counts."""
    runs = ["", DECLARED, "# Parameters\nepoch = 40\n", CHECKS, DECLARED, "# Parameters\nepochs = 40\n", CHECKS]
    check_parameter_names(runs)
    with pytest.raises(ParameterError, match="'epoch'"):
        check_parameter_names(runs[:4])


def test_check_parameter_names_reads_the_ipython_history(monkeypatch):
    """Called without arguments it reads this IPython kernel's raw input history (and nothing outside IPython)."""
    import IPython

    class Shell:
        class history_manager:
            input_hist_raw = history("# Parameters\nepoch = 40\n")

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    check_parameter_names()
    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    with pytest.raises(ParameterError, match="'epoch'"):
        check_parameter_names()

# -------------------------------------------------------------------------------------------------- resolve_data_dir
@pytest.mark.parametrize("empty", ["", None])
def test_resolve_data_dir_empty_means_the_default_dataset(empty):
    assert resolve_data_dir(empty) is None


def test_resolve_data_dir_absolute_folder(tmp_path):
    assert resolve_data_dir(str(tmp_path)) == tmp_path
    assert resolve_data_dir(tmp_path) == tmp_path


def test_resolve_data_dir_relative_paths_start_at_the_repository_root(tmp_path, monkeypatch):
    (tmp_path / "images").mkdir()
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)
    assert resolve_data_dir("images") == tmp_path / "images"


def test_resolve_data_dir_expands_the_home_folder(tmp_path, monkeypatch):
    (tmp_path / "live").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_data_dir("~/live") == tmp_path / "live"


def test_resolve_data_dir_refuses_a_missing_folder_or_a_file(tmp_path):
    with pytest.raises(ParameterError, match=r"data_dir='.*nowhere'.*no folder at"):
        resolve_data_dir(str(tmp_path / "nowhere"))
    file = tmp_path / "image.png"
    file.write_bytes(b"not a folder")
    with pytest.raises(ParameterError, match="no folder"):
        resolve_data_dir(str(file))


# ------------------------------------------------------------------------------------------------ resolve_output_dir
def test_resolve_output_dir_creates_the_given_folder(tmp_path):
    target = tmp_path / "run" / "04_conv_model"
    assert resolve_output_dir(str(target), "04_conv_model") == target
    assert target.is_dir()
    assert resolve_output_dir(str(target), "04_conv_model") == target  # existing folder: fine


def test_resolve_output_dir_empty_means_runs_interactive(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    got = resolve_output_dir("", "01_explore")
    assert got == tmp_path / "runs" / "interactive" / "01_explore"
    assert got.is_dir()


def test_resolve_output_dir_relative_paths_start_at_the_repository_root(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)
    assert resolve_output_dir("outputs/x", "01_explore") == tmp_path / "outputs" / "x"
    assert (tmp_path / "outputs" / "x").is_dir()



@pytest.mark.slow
def test_papermill_stops_a_real_notebook_on_an_unknown_parameter(tmp_path):
    """papermill alone only warns "Passed unknown parameter" and runs on the defaults: notebook 02 (the fastest)
    must stop in its checks cell, naming the name and the declared ones, before it writes anything. With a known
    name the same cells pass (the notebook's cells up to its checks cell: running the rest is nbval's job)."""
    import nbformat
    import papermill

    from tools import kernel

    notebook = paths.SOLUTIONS_DIR / "02_preprocess.ipynb"
    run = dict(kernel_name=kernel.kernel_name(), config=kernel.kernel_config(), cwd=str(notebook.parent),
               progress_bar=False, log_output=False)
    out = tmp_path / "out"
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(str(notebook), str(tmp_path / "typo.ipynb"),
                                   parameters={"image_sise": 64, "output_dir": str(out)}, **run)
    assert error.value.ename == "ParameterError"
    assert "unknown parameter 'image_sise'" in error.value.evalue
    assert "declares data_dir, output_dir, image_size, val_fraction, seed, leak_size" in error.value.evalue
    assert not out.exists()  # stopped before resolve_output_dir made it

    nb = nbformat.read(notebook, as_version=4)
    checks = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])) + 1
    assert "check_parameter_names()" in nb.cells[checks].source
    nb.cells = nb.cells[:checks + 1]
    nbformat.write(nb, tmp_path / "02_head.ipynb")
    papermill.execute_notebook(str(tmp_path / "02_head.ipynb"), str(tmp_path / "known.ipynb"),
                               parameters={"image_size": 64, "output_dir": str(out)}, **run)
    assert out.is_dir()


# -- what a notebook declares: parameter types and values (tools.run and tools.sweep check values with these) -------

from helpers.params import (check_name, checked_value, convert, notebook_parameters,  # noqa: E402
                            parameter_type, split_values)


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
