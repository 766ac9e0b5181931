"""`python -m dgov.registries.generate --worker`: the worker process that builds batches (see run)."""

import sys

from dgov.registries.generate.run import _worker_main

if sys.argv[1:] == ["--worker"]:
    _worker_main()
