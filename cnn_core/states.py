"""The states of a training job, spelled once: the job machinery (training, executor), run.json (runs)
and the job records (records) all import them from here.

Its own module because training imports runs and records: neither could import them from training.
"""

QUEUED, RUNNING, STOPPING, FINISHED, STOPPED, FAILED = "queued", "running", "stopping", "finished", "stopped", "failed"
ACTIVE_STATES = (QUEUED, RUNNING, STOPPING)
