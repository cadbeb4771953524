"""The servers and Ray heads the tests start end with the test run, even one that is killed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STARTER = """
import subprocess, sys
sys.path.insert(0, sys.argv[1])
from processes import die_with_parent
child = subprocess.Popen(["sleep", "120"], preexec_fn=die_with_parent, start_new_session=True)
print(child.pid, flush=True)
sys.stdin.read()  # until killed
"""


def test_a_child_started_with_die_with_parent_ends_when_its_starter_is_killed():
    starter = subprocess.Popen([sys.executable, "-c", STARTER, str(HERE)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    child = int(starter.stdout.readline())
    try:
        assert Path(f"/proc/{child}").exists()
        os.kill(starter.pid, signal.SIGKILL)  # no cleanup code runs in the starter
        starter.wait(10)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # the kernel's SIGTERM ends it; init reaps it
        assert not Path(f"/proc/{child}").exists(), "the child outlived the process that started it"
    finally:
        if Path(f"/proc/{child}").exists():
            os.kill(child, signal.SIGKILL)
