"""The ``sparrow`` command: ``data``, ``offline`` and ``serve``.

Each side's commands live with that side (``offline/cli.py``, ``online/cli.py``); this module
only mounts them, so ``sparrow --help`` stays fast and the import boundary holds (the offline
commands never import FastAPI, the online ones never import pyspark).
"""

from __future__ import annotations

import typer

from offline.cli import data_app, offline_app
from online.cli import serve

app = typer.Typer(help="Sparrow RecSys: an end-to-end movie recommender.", no_args_is_help=True)
app.add_typer(data_app, name="data", help="Fetch MovieLens or generate synthetic MovieLens-shaped data.")
app.add_typer(offline_app, name="offline", help="Spark + TensorFlow batch pipeline that builds an artifact bundle.")
app.command(help="Serve the REST API and web UI over the current bundle.")(serve)

if __name__ == "__main__":
    app()
