"""The entrypoint of a run on a cluster's worker: `python -m amed.worker JOB_FILE`.

See amed.worker.job; the daemon's side is amed.engine.ray.
"""
