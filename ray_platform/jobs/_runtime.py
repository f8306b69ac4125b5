"""What every job does first: join the cluster from a working folder that cannot vanish."""

from __future__ import annotations

import os

from ray_platform.settings import Settings


def connect(settings: Settings) -> None:
    """Join the Ray cluster named by the settings, working from the platform's home folder.

    On one machine both local Ray nodes share a session folder, so the worker node's runtime
    environment agent can unpack the job's package again over the driver's working directory
    when a task lands there. Imports are unaffected (``sys.path`` holds the path, not the
    folder), but anything that later asks for the current directory (gunicorn does, at import,
    under Feast) would find it gone. Relative project paths are resolved against the package
    (``ray_platform.settings.project_path``), never the current directory.
    """
    import ray

    settings.home.mkdir(parents=True, exist_ok=True)
    os.chdir(settings.home)
    ray.init(address=settings.ray_address, log_to_driver=False)
