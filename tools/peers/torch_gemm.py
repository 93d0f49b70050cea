"""PyTorch peer of `opshift bench gemm`: torch.matmul / F.linear on the same shapes, in the same run.

stdin:  {"cases": [{"name", "op": "matmul" | "linear", "m", "n", "k"}], "time_ms": budget per case, "threads": n}
stdout: {"torch": version, "threads": n, "results": {name: {"median_ms": m}}}

Single thread by default (torch.set_num_threads(1)), like opshift's kernels; inputs are float32 randn of the
same shapes (GEMM time does not depend on the values). matmul: [M,K] @ [K,N]; linear: x [M,K], weight [N,K].
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

req = json.load(sys.stdin)
torch.set_num_threads(int(req.get("threads", 1)))
budget = float(req.get("time_ms", 1000)) / 1000
torch.manual_seed(0)
results = {}
with torch.inference_mode():
    for case in req["cases"]:
        m, n, k = case["m"], case["n"], case["k"]
        a = torch.randn(m, k)
        if case["op"] == "linear":
            w = torch.randn(n, k)
            call = lambda: F.linear(a, w)  # noqa: E731
        else:
            b = torch.randn(k, n)
            call = lambda: torch.matmul(a, b)  # noqa: E731
        for _ in range(2):  # warm-up
            call()
        samples = []
        start = time.perf_counter()
        while len(samples) < 5 or (time.perf_counter() - start < budget and len(samples) < 10000):
            t0 = time.perf_counter()
            call()
            samples.append((time.perf_counter() - t0) * 1e3)
        results[case["name"]] = {"median_ms": statistics.median(samples)}
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}))
