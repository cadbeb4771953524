"""Start CNN Lab's server: `python -m cnn_lab_ui.serve [streamlit run options]`, what `make run` does.

It is `streamlit run app.py` with one difference. Streamlit (1.67) checks a cross-origin
WebSocket's Origin against localhost, browser.serverAddress, then the machine's internal and
*external* IP, which it looks up on the internet (checkip.amazonaws.com, over HTTP then HTTPS)
and caches only when the lookup succeeds. So offline, every rejected cross-origin WebSocket
sends two requests out (a page on any site can trigger it), and online the server announces
itself once. No setting skips that step (browser.serverAddress only adds a name to check first;
server.enableCORS=false would accept every origin). Filling the cache with "localhost", a name
already on the allowed list, allows nothing new and stops the look-ups.

`kill -USR1 PID` prints every thread's stack to the server's log: what a teacher (or a test)
needs when the server seems stuck.

Shutdown is bounded: on SIGTERM or Ctrl-C, Streamlit's Uvicorn server waits for every open
connection to close before it stops the app, with no time limit by default, and one browser
connection that never closes kept the server (and the training it should have saved as a
stopped run) alive for minutes. After SHUTDOWN_GRACE seconds Uvicorn now cancels what is left
and goes on: the app's runtime stops, and the worker pool saves running jobs as it exits.
"""

import faulthandler
import signal
import sys

SHUTDOWN_GRACE = 10.0  # seconds Uvicorn waits for open connections after SIGTERM / Ctrl-C


def main() -> None:
    import streamlit.net_util as net_util
    from streamlit.web import cli

    faulthandler.register(signal.SIGUSR1, all_threads=True)
    net_util._external_ip = "localhost"  # see above: the app never needs the machine's public address
    _bound_shutdown()
    sys.argv = ["streamlit", "run", "app.py", *sys.argv[1:]]
    cli.main(prog_name="streamlit")


def _bound_shutdown() -> None:
    """Give Uvicorn's graceful shutdown a time limit (see above)."""
    from streamlit.web.server.starlette import starlette_server

    kwargs_of = starlette_server._get_uvicorn_config_kwargs
    starlette_server._get_uvicorn_config_kwargs = lambda: {**kwargs_of(), "timeout_graceful_shutdown": SHUTDOWN_GRACE}


if __name__ == "__main__":
    main()
