"""tools: what instructors and maintainers run around the notebooks. Students read ``helpers``; nothing here is
imported by a notebook or by ``helpers`` (the tools call down into ``helpers``, never the other way).

Commands (each is ``python -m tools.<name> --help``):
    run              the kit's main job, `make run`: the dataset's summary, the whole series, a report
    sweep            papermill sweeps of one notebook over a grid of parameters (local processes or Dask); a
                     package: plan, store, runner, dask_runs, summary, cli
    student          generates notebooks/ (student versions) from solutions/ (`make student`)
    course           an nbgrader course folder made from solutions/ (`make course`)
    evaluate_codecs  JPEG, WebP and the kit's codec on a folder of images, with real bytes (rd.csv, rd.png)
    train_codec      trains the shipped codec checkpoints (python tools/train_codec.py)
    train_reference  trains a notebook's main model much longer and ships it (checkpoints/reference/)

Pieces they share:
    execute          the one notebook runner (papermill in the kit's kernel) that run and sweep both call
    kernel           the Jupyter kernel run and sweep execute notebooks in
    report           report.md / report.html from the metrics and figures a run's notebooks saved
"""
