"""PyTorch peer of `opshift bench op`: times catalog cases with the same inputs, in the same run.

stdin: {"cases": [...catalog cases...], "time_ms": budget per case, "threads": n}
stdout: {"torch": version, "threads": n, "results": {case name: {"median_ms": m} | {"skipped": reason}}}
"""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from torch_catalog import TORCH_CALLS, build_args  # noqa: E402

req = json.load(sys.stdin)
torch.set_num_threads(int(req.get("threads", 1)))
budget = float(req.get("time_ms", 500)) / 1000
results = {}
for case in req["cases"]:
    call = TORCH_CALLS.get(case["fn"])
    if call is None:
        results[case["name"]] = {"skipped": f"no torch call for {case['fn']}"}
        continue
    args = build_args(case)
    try:
        call(args)
    except RuntimeError as e:
        results[case["name"]] = {"skipped": str(e).splitlines()[0]}
        continue
    samples = []
    start = time.perf_counter()
    while len(samples) < 5 or (time.perf_counter() - start < budget and len(samples) < 10000):
        t0 = time.perf_counter()
        call(args)
        samples.append((time.perf_counter() - t0) * 1e3)
    results[case["name"]] = {"median_ms": statistics.median(samples)}
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}))
