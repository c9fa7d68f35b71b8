"""The one way the kit's commands execute a notebook: papermill, in the kit's kernel, quietly.

`tools.run` (the series, in its own process) and `tools.sweep` (each run in a child process, on this machine or a
Dask worker) both call `execute_notebook`, so a notebook runs the same way whichever command runs it.
"""

from tools.kernel import kernel_config, kernel_name


def execute_notebook(notebook, output, parameters, cwd, kernel=None):
    """Run `notebook` top to bottom with `parameters` injected, saving the executed copy at `output`.

    The kernel is `kernel` (a kernelspec name) or the kit's own (`tools.kernel.kernel_name()`), with encrypted
    sockets (`kernel_config()`); the notebook's working directory is `cwd`. No progress bar and no cell output
    on the console: the executed notebook holds it. A notebook that raises raises papermill's
    PapermillExecutionError (its `ename` and `evalue` are the notebook's exception) after `output` is saved.
    """
    import papermill        # here: papermill is slow to import, and a sweep's child skips part of it first

    papermill.execute_notebook(str(notebook), str(output), parameters=parameters,
                               kernel_name=kernel or kernel_name(), config=kernel_config(), cwd=str(cwd),
                               progress_bar=False, log_output=False)
