"""`python worker.py`: the same as `dialer worker` (an RQ worker for the dialer's jobs)."""

import sys

from dialer.cli import main

if __name__ == "__main__":
    main(["worker", *sys.argv[1:]])
