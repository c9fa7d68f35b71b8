"""helpers.params: notebook parameter checks that fail clearly, and data/output folder resolution."""

import math

import numpy as np
import pytest

from helpers import paths
from helpers.params import (ParameterError, check_choice, check_float, check_float_list, check_int, check_int_list,
                            check_parameter_names, declarations, parameters_cell, resolve_data_dir,
                            resolve_output_dir, setup)


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
    with pytest.raises(ParameterError, match=r"lambdas \(item 3\)=2.0 is too large: it must be at most 1"):
        check_float_list("lambdas", [0.1, 0.2, 2], minimum=1e-5, maximum=1.0)


# ------------------------------------------------------------------------------- declarations: the parameters cell
CELL = """data_dir: str = ""  # a folder
output_dir: str = ""  # where outputs go
image_size: int = 64  # side in pixels (16 to 512)
lr: float = 0.001  # peak learning rate (1e-6 to 1)
seeds: list[int] = [0, 1]  # seeds (each at least 0)
lambdas: list[float] = [0.01, 0.005]  # trade-offs (each 1e-5 to 1)
target: str = "jpeg"  # what to reproduce (one of: original, jpeg)
dropout: float = 0.2  # probability (at most 0.9)
show_explorer: bool = True  # end with the explorer
"""


def test_declarations_read_type_default_help_and_what_each_allows():
    d = declarations(CELL)
    assert list(d) == ["data_dir", "output_dir", "image_size", "lr", "seeds", "lambdas", "target", "dropout",
                       "show_explorer"]
    assert (d["image_size"].type, d["image_size"].default, d["image_size"].minimum, d["image_size"].maximum) == \
        ("int", 64, 16, 512)
    assert d["image_size"].help == "side in pixels (16 to 512)"
    assert (d["seeds"].minimum, d["seeds"].maximum) == (0, None) and d["dropout"].maximum == 0.9
    assert d["target"].choices == ("original", "jpeg") and d["data_dir"].choices is None
    assert d["show_explorer"].type == "bool"


@pytest.mark.parametrize("name, bad, message", [
    ("image_size", "-3", "parameter image_size=-3 is too small: it must be at least 16"),
    ("image_size", 2.5, "parameter image_size=2.5 must be an integer"),
    ("image_size", 1024, "parameter image_size=1024 is too large: it must be at most 512"),
    ("lr", "fast", "parameter lr='fast' must be a finite number"),
    ("lr", 3, "parameter lr=3.0 is too large: it must be at most 1"),
    ("seeds", "0,-1", r"parameter seeds \(item 2\)=-1 is too small: it must be at least 0"),
    ("seeds", "", "parameter seeds='' must be a comma-separated list of integers"),
    ("lambdas", "0.01,2", r"parameter lambdas \(item 2\)=2.0 is too large: it must be at most 1"),
    ("target", "png", "parameter target='png' is not allowed; choose one of: 'original', 'jpeg'"),
    ("show_explorer", "yes", "parameter show_explorer='yes' must be True or False"),
    ("data_dir", 3, "parameter data_dir=3 must be a text"),
])
def test_a_declaration_refuses_a_bad_value_naming_it_and_what_it_allows(name, bad, message):
    with pytest.raises(ParameterError, match=message):
        declarations(CELL)[name].check(bad)


def test_a_declaration_converts_what_papermill_passes():
    d = declarations(CELL)
    assert d["image_size"].check("64") == 64 and d["seeds"].check("0,1,2") == [0, 1, 2]
    assert d["lambdas"].check(0.004) == [0.004] and d["lr"].check(1) == 1.0 and type(d["lr"].check(1)) is float


@pytest.mark.parametrize("line, message", [
    ("x: list = [1]  # no item type", "type 'list' is not one of"),
    ("x: str = 'a'  # text (1 to 2)", "a range is for numbers"),
    ("x: int = 1  # count (one of: a, b)", "'one of:' is for a str parameter"),
    ("x: int = 1  # count (a to b)", "cannot read the range"),
])
def test_a_declaration_that_cannot_be_read_is_an_error_naming_it(line, message):
    with pytest.raises(ValueError, match=message):
        declarations(line)


def _history(injected=None):
    return ["", CELL] + ([injected] if injected else []) + ["run = setup(globals(), 'nb')"]


def test_setup_checks_and_converts_every_declared_value_in_place(tmp_path):
    namespace = dict(data_dir="", output_dir=str(tmp_path / "out"), image_size="32", lr=0.001, seeds="0,1",
                     lambdas=[0.01, 0.005], target="jpeg", dropout=0.2, show_explorer=True)
    run = setup(namespace, "nb", history=_history('# Parameters\nimage_size = "32"\n'))
    assert namespace["image_size"] == 32 and namespace["seeds"] == [0, 1]
    assert run.out == tmp_path / "out" and run.out.is_dir() and run.data_dir is None
    assert run.parameters["image_size"] == 32 and run.at_defaults is False


def test_setup_knows_the_stored_defaults_whatever_the_output_folder(tmp_path):
    namespace = {name: d.default for name, d in declarations(CELL).items()} | {"output_dir": str(tmp_path)}
    assert setup(namespace, "nb", history=_history()).at_defaults is True


def test_setup_stops_at_a_bad_value_an_unknown_name_or_no_parameters_cell(tmp_path):
    namespace = {name: d.default for name, d in declarations(CELL).items()} | {"output_dir": str(tmp_path)}
    with pytest.raises(ParameterError, match="parameter dropout=0.95 is too large: it must be at most 0.9"):
        setup(namespace | {"dropout": 0.95}, "nb", history=_history())
    with pytest.raises(ParameterError, match="unknown parameter 'epoch'"):
        setup(namespace, "nb", history=_history("# Parameters\nepoch = 3\n"))
    with pytest.raises(ParameterError, match="no parameters cell has run yet"):
        setup(namespace, "nb", history=["", "x = 1"])


def test_every_notebook_declares_its_parameters_in_a_form_setup_reads():
    for notebook in sorted(paths.SOLUTIONS_DIR.glob("[0-9][0-9]_*.ipynb")):
        declared = declarations(parameters_cell(notebook))
        assert {"data_dir", "output_dir"} <= set(declared), notebook.name
        for d in declared.values():
            assert d.check(d.default) == d.default or d.type.startswith("list"), (notebook.name, d.name)


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
    assert "setup(globals()," in nb.cells[checks].source
    nb.cells = nb.cells[:checks + 1]
    nbformat.write(nb, tmp_path / "02_head.ipynb")
    papermill.execute_notebook(str(tmp_path / "02_head.ipynb"), str(tmp_path / "known.ipynb"),
                               parameters={"image_size": 64, "output_dir": str(out)}, **run)
    assert out.is_dir()
