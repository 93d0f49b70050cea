"""PyTorch peer of `opshift bench model`: the same synthetic model shapes, eager, as Hugging Face runs them.

stdin:  {"config": <config.json dict of an opshift preset>, "prompts": [[ids]], "gen_tokens": n, "reps": r,
         "warmup": w, "threads": t, "mv": false}
stdout: {"torch": version, "threads": t, "cold_ttft_ms": first run's TTFT, "max_rss_mib": peak RSS,
         "results": [{"prompt_tokens", "ttft_ms", "tokens_per_s"}]}

"mv": true sends single-row projections (decode) through torch.mv, PyTorch's GEMV: torch 1.13's F.linear runs
them as an sgemm with M = 1, which is slower on OpenBLAS. `bench compare` uses it so that the peer is PyTorch at
its fastest; `bench model` keeps F.linear, as Hugging Face runs it.

OPT and Llama forwards with a KV cache, written as Hugging Face's modeling code computes them (F.linear for
every projection, eager softmax attention, fp32), random weights (speed does not depend on the values).
Greedy decoding, medians over the repetitions.
"""
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

req = json.load(sys.stdin)
cfg = req["config"]
use_mv = bool(req.get("mv", False))
torch.set_num_threads(int(req.get("threads", 1)))
torch.manual_seed(0)
opt = cfg["model_type"] == "opt"
C, L = cfg["hidden_size"], cfg["num_hidden_layers"]
H = cfg["num_attention_heads"]
KV = cfg.get("num_key_value_heads", H)
D = cfg.get("head_dim") or C // H
V = cfg["vocab_size"]
r = lambda *s: torch.randn(*s) * 0.02


def lin(o, i, bias=False):
    return (r(o, i), torch.zeros(o) if bias else None)


if opt:
    E = cfg.get("word_embed_proj_dim", C)
    FF = cfg["ffn_dim"]
    W = {"emb": r(V, E), "pos": r(cfg["max_position_embeddings"] + 2, C), "layers": []}
    if E != C:
        W["pin"], W["pout"] = r(C, E), r(E, C)
    for _ in range(L):
        W["layers"].append({n: lin(C, C, True) for n in ("q", "k", "v", "o")} | {"fc1": lin(FF, C, True), "fc2": lin(C, FF, True),
                            "ln1": (torch.ones(C), torch.zeros(C)), "ln2": (torch.ones(C), torch.zeros(C))})
    W["lnf"] = (torch.ones(C), torch.zeros(C))
else:
    I = cfg["intermediate_size"]
    W = {"emb": r(V, C), "norm": torch.ones(C), "layers": []}
    for _ in range(L):
        W["layers"].append({"q": lin(H * D, C), "k": lin(KV * D, C), "v": lin(KV * D, C), "o": lin(C, H * D), "g": lin(I, C),
                            "u": lin(I, C), "d": lin(C, I), "n1": torch.ones(C), "n2": torch.ones(C)})
    W["head"] = W["emb"] if cfg.get("tie_word_embeddings") else r(V, C)
    theta = cfg.get("rope_theta", 10000.0)
    inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2).float() / D))


def linear(x, w, b=None):
    if use_mv and x.shape[0] == 1 and x.shape[1] == 1:
        y = torch.mv(w, x[0, 0]).view(1, 1, -1)
        return y + b if b is not None else y
    return F.linear(x, w, b)


def rms(x, w, eps=1e-5):
    x32 = x.float()
    return w * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def rot(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), -1)


def attend(q, k, v, T):
    # q (1, H, T, D), k/v (1, KVh, S, D) -> (1, T, H*D); causal bottom-right, eager like HF's "eager" attention.
    if k.shape[1] != q.shape[1]:
        k = k.repeat_interleave(q.shape[1] // k.shape[1], 1)
        v = v.repeat_interleave(q.shape[1] // v.shape[1], 1)
    s = q @ k.transpose(-1, -2)
    S = k.shape[2]
    if T > 1:
        s = s + torch.full((T, S), float("-inf")).triu(S - T + 1)
    return (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(1, T, -1)


def forward(ids, cache):
    T = ids.shape[1]
    past = cache[0][0].shape[2] if cache[0] is not None else 0
    if opt:
        x = F.embedding(ids, W["emb"])
        if "pin" in W:
            x = linear(x, W["pin"])
        x = x + F.embedding(torch.arange(past, past + T)[None] + 2, W["pos"])
        for i, l in enumerate(W["layers"]):
            h = F.layer_norm(x, (C,), *l["ln1"])
            q = (linear(h, *l["q"]) * D ** -0.5).view(1, T, H, D).transpose(1, 2)
            k = linear(h, *l["k"]).view(1, T, H, D).transpose(1, 2)
            v = linear(h, *l["v"]).view(1, T, H, D).transpose(1, 2)
            if cache[i] is not None:
                k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
            cache[i] = (k, v)
            x = x + linear(attend(q, k, v, T), *l["o"])
            x = x + linear(torch.relu(linear(F.layer_norm(x, (C,), *l["ln2"]), *l["fc1"])), *l["fc2"])
        x = F.layer_norm(x[:, -1:], (C,), *W["lnf"])
        if "pout" in W:
            x = linear(x, W["pout"])
        return linear(x, W["emb"])
    x = F.embedding(ids, W["emb"])
    pos = torch.arange(past, past + T).float()
    emb = torch.cat([torch.outer(pos, inv_freq)] * 2, -1)
    cos, sin = emb.cos(), emb.sin()
    for i, l in enumerate(W["layers"]):
        h = rms(x, l["n1"])
        q = linear(h, *l["q"]).view(1, T, H, D).transpose(1, 2)
        k = linear(h, *l["k"]).view(1, T, KV, D).transpose(1, 2)
        v = linear(h, *l["v"]).view(1, T, KV, D).transpose(1, 2)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        if cache[i] is not None:
            k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
        cache[i] = (k, v)
        x = x + linear(attend(q * D ** -0.5, k, v, T), *l["o"])
        h = rms(x, l["n2"])
        x = x + linear(F.silu(linear(h, *l["g"])) * linear(h, *l["u"]), *l["d"])
    return linear(rms(x[:, -1:], W["norm"]), W["head"])


def run(prompt, n):
    cache = [None] * L
    t0 = time.perf_counter()
    tok = forward(torch.tensor([prompt]), cache)[0, -1].argmax()
    ttft = time.perf_counter() - t0
    for _ in range(n - 1):
        tok = forward(tok.view(1, 1), cache)[0, -1].argmax()
    total = time.perf_counter() - t0
    return ttft * 1000, (n - 1) / (total - ttft)


results = []
cold = None
with torch.inference_mode():
    for p in req["prompts"]:
        if cold is None:
            cold = run(p, 2)[0]  # the first forward in this process: allocator and thread pools start here
        for _ in range(int(req.get("warmup", 1))):
            run(p, req["gen_tokens"])
        runs = [run(p, req["gen_tokens"]) for _ in range(max(1, int(req.get("reps", 1))))]
        results.append({"prompt_tokens": len(p), "ttft_ms": statistics.median(r[0] for r in runs), "tokens_per_s": statistics.median(r[1] for r in runs)})
max_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "cold_ttft_ms": cold, "max_rss_mib": max_rss_mib, "results": results}))
