"""
The op-case catalog on the PyTorch side: rebuilds a case's inputs exactly as opshift builds them
(tools/op_cases.ts: torch.manual_seed(seed), uniform rand/randint draws, an affine map in float32, a dtype
cast, a layout) and calls the matching torch function (TORCH_CALLS, same names as tools/op_cases/calls.ts).

Used by test/fixtures/make_op_cases.py (golden outputs) and tools/peers/torch_bench_cases.py (the PyTorch
peer of `opshift bench op`). Families register more calls in test/fixtures/op_cases_calls_*.py (each defines
a dict CALLS; `torch`, `F`, `DTYPES` and `dims` are in scope).
"""
import os

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CALLS_DIR = os.path.join(ROOT, "test", "fixtures")

DTYPES = {
    "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "int8": torch.int8,
    "uint8": torch.uint8, "int16": torch.int16, "int32": torch.int32, "int64": torch.int64, "bool": torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}


def draw(spec, shape):
    dtype = spec.get("dtype", "float32")
    gen = spec.get("gen")
    if gen is None:
        if dtype == "bool":
            gen = {"kind": "bool"}
        elif dtype in ("float32", "float16", "bfloat16"):
            gen = {"kind": "rand"}
        else:
            gen = {"kind": "randint", "low": -8, "high": 8}
    kind = gen["kind"]
    if kind == "rand":
        low, high = gen.get("low", -1), gen.get("high", 1)
        return (torch.rand(shape) * (high - low) + low).to(DTYPES[dtype])
    if kind == "randint":
        return torch.randint(gen["low"], gen["high"], shape, dtype=DTYPES["int64" if dtype == "bool" else dtype])
    if kind == "arange":
        n = 1
        for s in shape:
            n *= s
        return torch.arange(n).reshape(shape).to(DTYPES[dtype])
    if kind == "bool":
        return (torch.rand(shape) < gen.get("p", 0.5)).to(DTYPES[dtype])
    if kind == "values":
        vals = [float(v) if isinstance(v, (int, float)) else float(v) for v in gen["values"]]
        return torch.tensor(vals, dtype=torch.float32).to(DTYPES[dtype]).reshape(shape)
    raise ValueError(kind)


def make_input(spec):
    shape = list(spec["shape"])
    layout = spec.get("layout", "contiguous")
    n = len(shape)
    stored = list(shape)
    if layout == "transposed" and n >= 2:
        stored[-1], stored[-2] = stored[-2], stored[-1]
    if layout == "strided" and n >= 1:
        stored[-1] *= 2
    t = draw(spec, stored)
    if layout == "transposed" and n >= 2:
        t = t.transpose(-1, -2)
    if layout == "strided" and n >= 1:
        t = t[..., ::2]
    return t


def build_args(case):
    torch.manual_seed(case.get("seed", 0))
    out = []
    for a in case["args"]:
        if "input" in a:
            out.append(make_input(a["input"]))
        elif "list" in a:
            out.append([make_input(s) for s in a["list"]])
        elif "scalar" in a:
            out.append(a["scalar"])
        else:
            out.append(a["value"])
    return out


def dims(d):
    return tuple(d) if isinstance(d, list) else d


def t_max(a):
    if len(a) < 2 or a[1] is None:
        return torch.max(a[0])
    r = torch.max(a[0], a[1], keepdim=bool(a[2]) if len(a) > 2 else False)
    return [r.values, r.indices]


def t_sum(f):
    def call(a):
        if len(a) < 2 or a[1] is None:
            return f(a[0])
        return f(a[0], dims(a[1]), keepdim=bool(a[2]) if len(a) > 2 else False)
    return call


TORCH_CALLS = {
    "add": lambda a: torch.add(a[0], a[1]),
    "sub": lambda a: torch.sub(a[0], a[1]),
    "mul": lambda a: torch.mul(a[0], a[1]),
    "div": lambda a: torch.div(a[0], a[1]),
    "pow": lambda a: torch.pow(a[0], a[1]),
    "eq": lambda a: torch.eq(a[0], a[1]),
    "ne": lambda a: torch.ne(a[0], a[1]),
    "lt": lambda a: torch.lt(a[0], a[1]),
    "le": lambda a: torch.le(a[0], a[1]),
    "gt": lambda a: torch.gt(a[0], a[1]),
    "ge": lambda a: torch.ge(a[0], a[1]),
    "neg": lambda a: torch.neg(a[0]),
    "abs": lambda a: torch.abs(a[0]),
    "exp": lambda a: torch.exp(a[0]),
    "log": lambda a: torch.log(a[0]),
    "sqrt": lambda a: torch.sqrt(a[0]),
    "rsqrt": lambda a: torch.rsqrt(a[0]),
    "tanh": lambda a: torch.tanh(a[0]),
    "sigmoid": lambda a: torch.sigmoid(a[0]),
    "relu": lambda a: torch.relu(a[0]),
    "silu": lambda a: F.silu(a[0]),
    "erf": lambda a: torch.erf(a[0]),
    "gelu": lambda a: F.gelu(a[0], approximate=a[1] if len(a) > 1 and a[1] else "none"),
    "clamp": lambda a: torch.clamp(a[0], a[1], a[2]),
    "where": lambda a: torch.where(a[0], a[1] if torch.is_tensor(a[1]) else torch.tensor(a[1]), a[2] if torch.is_tensor(a[2]) else torch.tensor(a[2])),
    "to": lambda a: a[0].to(DTYPES[a[1]]),
    "contiguous": lambda a: a[0].clone(memory_format=torch.contiguous_format),
    "matmul": lambda a: torch.matmul(a[0], a[1]),
    "linear": lambda a: F.linear(a[0], a[1], a[2]),
    "sum": t_sum(torch.sum),
    "mean": t_sum(torch.mean),
    "max": t_max,
    "argmax": lambda a: torch.argmax(a[0], a[1], keepdim=bool(a[2]) if len(a) > 2 else False),
    "softmax": lambda a: torch.softmax(a[0], a[1]),
    "cat": lambda a: torch.cat(a[0], a[1]),
    "stack": lambda a: torch.stack(a[0], a[1]),
}
for name in sorted(os.listdir(CALLS_DIR)):
    if name.startswith("op_cases_calls_") and name.endswith(".py"):
        scope = {"torch": torch, "F": F, "DTYPES": DTYPES, "dims": dims}
        with open(os.path.join(CALLS_DIR, name)) as f:
            exec(f.read(), scope)
        TORCH_CALLS.update(scope["CALLS"])


def upcast(v):
    if torch.is_tensor(v) and v.dtype in (torch.float16, torch.bfloat16):
        return v.float()
    if isinstance(v, list):
        return [upcast(x) for x in v]
    return v


def half_dtype(args):
    for v in args:
        for t in v if isinstance(v, list) else [v]:
            if torch.is_tensor(t) and t.dtype in (torch.float16, torch.bfloat16):
                return t.dtype
    return None


def as_list(r):
    if torch.is_tensor(r):
        return [r]
    return list(r)
