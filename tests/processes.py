"""What the tests start ends with them: a server or a Ray head started by a test run that is killed
(Ctrl-C twice, a CI timeout, kill -9) would otherwise live on with its workers, holding a port,
memory and CPU, until someone finds it."""

from __future__ import annotations

import ctypes
import signal

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Looked up here, in the parent: between fork and exec the child only calls it (no dlopen, whose
# lock another thread of the test process could have held at the fork).
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent() -> None:
    """subprocess.Popen(preexec_fn=...): the child is sent SIGTERM when the process that started it
    ends, however it ends (Linux). SIGTERM, not SIGKILL: a server still stops its workers, a Ray head
    what it started."""
    _prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
