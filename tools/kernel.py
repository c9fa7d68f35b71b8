"""Which Jupyter kernel the kit's notebooks run in when `make run` or a sweep executes them with papermill.

`make setup` installs the kernel ``neural-compression-kit`` into ``.venv``, pointing at ``.venv``'s Python.
Running notebooks in it, rather than in "python3", matters: a "python3" kernel of another Python in the user's
Jupyter folders (``~/.local/share/jupyter/kernels``) takes precedence over ipykernel's own and would run the
notebooks outside the kit's environment.

This module imports no torch, so a sweep's run process starts fast.
"""

KIT_KERNEL = "neural-compression-kit"


def kernel_name() -> str:
    """The kit's own kernel when it is installed; else "python3" (e.g. in the conda environment, where nothing
    installed it)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KIT_KERNEL)
    except NoSuchKernel:
        return "python3"
    return KIT_KERNEL


def kernel_config():
    """Settings for the kernel manager papermill starts: encrypt the kernel's sockets (CurveZMQ) when its
    kernelspec supports it, as ipykernel 7's does. Without this, every kernel warns that it "is running over TCP
    without encryption" (it listens on localhost only; the warning is alarming noise in `make run`'s output)."""
    from traitlets.config import Config

    return Config({"KernelManager": {"transport_encryption": "auto"}})
