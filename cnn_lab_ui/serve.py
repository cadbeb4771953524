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
"""

import faulthandler
import signal
import sys


def main() -> None:
    import streamlit.net_util as net_util
    from streamlit.web import cli

    faulthandler.register(signal.SIGUSR1, all_threads=True)
    net_util._external_ip = "localhost"  # see above: the app never needs the machine's public address
    sys.argv = ["streamlit", "run", "app.py", *sys.argv[1:]]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
