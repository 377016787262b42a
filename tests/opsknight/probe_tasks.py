"""A task for job-queue tests, loaded into real workers with OPSKNIGHT_TASK_MODULES."""

from __future__ import annotations

import os
import time
from pathlib import Path

from procrastinate.contrib.django import app


@app.task(queue="default", name="tests.probe")
def probe(*, marker_dir: str, hang_first_attempt: bool, seconds: float = 0) -> None:
    """Leave a file per attempt; the first attempt may hang until its worker is killed."""
    markers = Path(marker_dir)
    attempt = len(list(markers.glob("started-*"))) + 1
    (markers / f"started-{attempt}-pid{os.getpid()}").touch()
    if hang_first_attempt and attempt == 1:
        time.sleep(3600)
    time.sleep(seconds)
    (markers / f"done-{attempt}").touch()
