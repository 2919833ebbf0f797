"""Benchmark-only experiment (bench/run_core.sh GC_TUNE=1): fewer, cheaper garbage collections.

Put on PYTHONPATH, this runs in every Python process started with it, including the uvicorn
workers (multiprocessing spawn). It raises the generation-0 threshold so that allocation-heavy
request handling triggers far fewer collections, and freezes the objects alive at start-up
(imported modules, app objects) so full collections do not re-scan them.
"""

import gc

gc.set_threshold(50_000, 20, 100)
gc.freeze()
