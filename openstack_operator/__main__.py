import os
import signal
import sys


def _interrupted(signum: int, frame: object) -> None:
    """Ctrl-C, at any moment (loading included): one line and exit 130, never a traceback. An operator process
    replaces this handler with its own once it runs (it stops gracefully on SIGINT and SIGTERM)."""
    os.write(2, b"error: interrupted\n")
    os._exit(130)


signal.signal(signal.SIGINT, _interrupted)

from openstack_operator.cli import main  # noqa: E402 - after the handler: loading takes a while

sys.exit(main())
