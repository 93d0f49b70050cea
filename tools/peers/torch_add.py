"""PyTorch peer for `opshift bench dispatch`: median time of eager torch.add on CPU, per call.

Prints one JSON object: {"torch": version, "threads": n, "results": {"1": ns, "4096": ns}}. Times batches of
calls (timing a single sub-microsecond call is mostly timer noise) and reports the median batch / batch size.
"""
import json
import statistics
import sys
import time

import torch

BATCH = 1000
REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 50


def median_ns(fn):
    for _ in range(BATCH):  # warm-up
        fn()
    samples = []
    for _ in range(REPEATS):
        t0 = time.perf_counter_ns()
        for _ in range(BATCH):
            fn()
        samples.append((time.perf_counter_ns() - t0) / BATCH)
    return statistics.median(samples)


results = {}
for n in (1, 4096):
    a = torch.ones(n)
    b = torch.ones(n)
    results[str(n)] = median_ns(lambda: torch.add(a, b))
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}))
