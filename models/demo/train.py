"""Train a demo model on the King James Bible (run prepare.mjs first; see README.md in this folder).

  /usr/bin/python3 models/demo/train.py --arch llama --minutes 40
  /usr/bin/python3 models/demo/train.py --arch opt --minutes 40

Debian's python3-torch is a build tool here, not a runtime dependency. The forward is the plain-PyTorch
reference of Hugging Face's modeling code (tools/peers/hf_reference.py), so the saved folder is a regular
HF checkpoint that opshift (and transformers) load.

Vocabulary: the model keeps the tokenizer's full vocabulary (32000 for Llama 2's, 50272 for GPT-2's padded as
OPT pads it), but the corpus uses only ~7-10k of those ids. Embedding rows of unused ids are fixed at zero
and only the used rows are trained; since a zero row's logit is exactly 0, the full-vocabulary softmax is
computed exactly as logsumexp(used logits, log(#unused)) without the big matmul. Same loss, ~4x less work.

Writes <out>/config.json, generation_config.json, model.safetensors (bf16), metrics.json; the tokenizer files
are already there (prepare.mjs). metrics.json records the validation perplexity computed on the saved bf16
weights (float32 math, Hugging Face's sliding-window method), which `opshift eval perplexity` must reproduce.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "peers"))
from hf_reference import llama_config, llama_hidden, opt_config, opt_hidden  # noqa: E402
from safetensors_py import load as read_safetensors_raw, save as write_safetensors  # noqa: E402


CONFIGS = {
    # ~7.4M parameters (6.1M of them the tied 32000-row embedding), 14.8 MB in bf16.
    "llama": lambda: llama_config(
        vocab_size=32000, hidden_size=192, intermediate_size=384, num_hidden_layers=4, num_attention_heads=6,
        num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5, rope_theta=10000.0,
        tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, torch_dtype="bfloat16"),
    # ~7.3M parameters (6.4M the tied 50272-row embedding), 14.5 MB in bf16. GPT-2 ids: BOS = EOS = 50256.
    "opt": lambda: opt_config(
        vocab_size=50272, hidden_size=128, ffn_dim=512, num_hidden_layers=4, num_attention_heads=4,
        max_position_embeddings=256, word_embed_proj_dim=128, do_layer_norm_before=True, bos_token_id=50256,
        eos_token_id=50256, pad_token_id=50256, tie_word_embeddings=True, torch_dtype="bfloat16"),
}
EMB = {"llama": "model.embed_tokens.weight", "opt": "model.decoder.embed_tokens.weight"}


def init_params(arch, cfg, used, g):
    """HF-named parameters; the embedding holds only the used rows (compact index order)."""
    C = cfg["hidden_size"]
    std = 0.02
    r = lambda *s: (torch.randn(*s, generator=g) * std).requires_grad_()
    ones = lambda n: torch.ones(n).requires_grad_()
    zeros = lambda n: torch.zeros(n).requires_grad_()
    w = {EMB[arch]: r(len(used), C)}
    proj_std = std / math.sqrt(2 * cfg["num_hidden_layers"])  # GPT-2's scaled init of residual projections
    if arch == "llama":
        H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        D, I = C // H, cfg["intermediate_size"]
        for i in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{i}."
            w[p + "self_attn.q_proj.weight"] = r(H * D, C)
            w[p + "self_attn.k_proj.weight"] = r(KV * D, C)
            w[p + "self_attn.v_proj.weight"] = r(KV * D, C)
            w[p + "self_attn.o_proj.weight"] = (torch.randn(C, H * D, generator=g) * proj_std).requires_grad_()
            w[p + "mlp.gate_proj.weight"] = r(I, C)
            w[p + "mlp.up_proj.weight"] = r(I, C)
            w[p + "mlp.down_proj.weight"] = (torch.randn(C, I, generator=g) * proj_std).requires_grad_()
            w[p + "input_layernorm.weight"] = ones(C)
            w[p + "post_attention_layernorm.weight"] = ones(C)
        w["model.norm.weight"] = ones(C)
    else:
        FF, pre = cfg["ffn_dim"], "model.decoder."
        w[pre + "embed_positions.weight"] = r(cfg["max_position_embeddings"] + 2, C)
        for i in range(cfg["num_hidden_layers"]):
            p = f"{pre}layers.{i}."
            for n in ("q_proj", "k_proj", "v_proj"):
                w[p + f"self_attn.{n}.weight"], w[p + f"self_attn.{n}.bias"] = r(C, C), zeros(C)
            w[p + "self_attn.out_proj.weight"] = (torch.randn(C, C, generator=g) * proj_std).requires_grad_()
            w[p + "self_attn.out_proj.bias"] = zeros(C)
            w[p + "fc1.weight"], w[p + "fc1.bias"] = r(FF, C), zeros(FF)
            w[p + "fc2.weight"] = (torch.randn(C, FF, generator=g) * proj_std).requires_grad_()
            w[p + "fc2.bias"] = zeros(C)
            for n in ("self_attn_layer_norm", "final_layer_norm"):
                w[p + n + ".weight"], w[p + n + ".bias"] = ones(C), zeros(C)
        w[pre + "final_layer_norm.weight"], w[pre + "final_layer_norm.bias"] = ones(C), zeros(C)
    return w


def hidden(arch, cfg, w, ids):
    return llama_hidden(cfg, w, ids) if arch == "llama" else opt_hidden(cfg, w, ids)


def full_vocab_nll(h, emb_used, targets, n_unused):
    """Cross-entropy over the whole vocabulary with the unused rows at zero: their logits are exactly 0."""
    # The unused ids act as one extra class with logit log(#unused): a zero weight row plus that bias.
    C = h.shape[-1]
    weight = torch.cat([emb_used, torch.zeros(1, C)]) if n_unused else emb_used
    bias = torch.cat([torch.zeros(len(emb_used)), torch.tensor([math.log(n_unused)])]) if n_unused else None
    logits = F.linear(h.reshape(-1, C), weight, bias)  # (N, U + 1): one 2-D GEMM
    return F.cross_entropy(logits, targets.reshape(-1), reduction="none").view(h.shape[:-1])


def sliding_window_ppl(arch, cfg, w, ids, window, stride, n_unused):
    """Hugging Face's perplexity guide: windows of `window` tokens every `stride`, scoring only the new ones."""
    nll_sum, n_tok, prev_end = 0.0, 0, 0
    with torch.no_grad():
        for begin in range(0, len(ids), stride):
            end = min(begin + window, len(ids))
            trg = end - prev_end  # tokens not scored by an earlier window
            x = torch.tensor(ids[begin:end])[None]
            h = hidden(arch, cfg, w, x)[0, :-1]
            nll = full_vocab_nll(h, w[EMB[arch]], x[0, 1:], n_unused)
            scored = nll[-trg:] if trg < len(nll) else nll  # the first window scores all but its first token
            nll_sum += float(scored.double().sum())
            n_tok += scored.numel()
            prev_end = end
            if end == len(ids):
                break
    return math.exp(nll_sum / n_tok), n_tok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", choices=["llama", "opt"], required=True)
    ap.add_argument("--minutes", type=float, default=40)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--init-from", default=None, help="start from a saved model folder (a second training stage)")
    ap.add_argument("--warmup", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    arch, out = args.arch, args.out or os.path.join(HERE, args.arch)
    cfg = CONFIGS[arch]()
    V = cfg["vocab_size"]
    load = lambda split: torch.frombuffer(bytearray(open(os.path.join(HERE, "build", f"{arch}-{split}.u16"), "rb").read()), dtype=torch.int16).to(torch.int64) & 0xFFFF
    train, valid, valid_text = load("train"), load("valid"), load("valid-text")
    used = torch.unique(torch.cat([train, valid, valid_text, torch.tensor([cfg["bos_token_id"], cfg["eos_token_id"]])]))
    compact = torch.full((V,), -1, dtype=torch.int64)
    compact[used] = torch.arange(len(used))
    n_unused = V - len(used)
    ctrain, cvalid, cvalid_text = compact[train], compact[valid], compact[valid_text]
    g = torch.Generator().manual_seed(args.seed)
    w = init_params(arch, cfg, used, g)
    stages = []
    if args.init_from:
        prev = {n: t.to(torch.float32) for n, t in read_safetensors_raw(os.path.join(args.init_from, "model.safetensors")).items()}
        with torch.no_grad():
            for n, p in w.items():
                p.copy_(prev[n][used] if n == EMB[arch] else prev[n])
        try:
            with open(os.path.join(args.init_from, "metrics.json")) as f:
                stages = json.load(f).get("stages", [])
        except FileNotFoundError:
            pass
    decay = [p for n, p in w.items() if p.ndim == 2]
    no_decay = [p for n, p in w.items() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    budget = args.minutes * 60
    T, B = args.seq, args.batch
    print(f"{arch}: {sum(p.numel() for p in w.values()) / 1e6:.2f}M trained parameters ({len(used)} of {V} vocabulary rows), "
          f"{len(train)} train / {len(valid)} valid tokens, {args.minutes} min", flush=True)

    def val_loss():
        with torch.no_grad():
            n = (len(cvalid) - 1) // T * T
            x = cvalid[:n].view(-1, T)
            y = cvalid[1:n + 1].view(-1, T)
            return float(full_vocab_nll(hidden(arch, cfg, w, x), w[EMB[arch]], y, n_unused).mean())

    t0, step, tokens, losses = time.time(), 0, 0, []
    warmup = args.warmup
    while True:
        elapsed = time.time() - t0
        if elapsed > budget:
            break
        progress = elapsed / budget
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in opt.param_groups:
            group["lr"] = lr
        starts = torch.randint(0, len(ctrain) - T - 1, (B,), generator=g)
        x = torch.stack([ctrain[s:s + T] for s in starts])
        y = torch.stack([ctrain[s + 1:s + T + 1] for s in starts])
        loss = full_vocab_nll(hidden(arch, cfg, w, x), w[EMB[arch]], y, n_unused).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(w.values()), 1.0)
        opt.step()
        losses.append(float(loss))
        step += 1
        tokens += B * T
        if step % args.log_every == 0:
            print(f"step {step} {elapsed / 60:.1f} min lr {lr:.2e} train loss {sum(losses[-args.log_every:]) / args.log_every:.3f}"
                  + (f" valid loss {val_loss():.3f}" if step % 250 == 0 else ""), flush=True)

    # Export: full-vocabulary embedding (zero rows for unused ids), bf16; evaluate the saved weights.
    state = {}
    for n, p in w.items():
        t = p.detach()
        if n == EMB[arch]:
            full = torch.zeros(V, t.shape[1])
            full[used] = t
            t = full
        state[n] = t.to(torch.bfloat16)
    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, "model.safetensors"), state, {"format": "pt"})
    cfg_out = {**cfg, "architectures": ["LlamaForCausalLM" if arch == "llama" else "OPTForCausalLM"]}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg_out, f, indent=2)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"], "max_length": cfg["max_position_embeddings"]}, f, indent=2)

    saved = {n: t.to(torch.float32) for n, t in state.items()}
    saved_used = dict(saved)
    saved_used[EMB[arch]] = saved[EMB[arch]][used]  # same math as the full matrix (the other rows are zero)
    vl = sum(full_vocab_nll(hidden(arch, cfg, saved_used, cvalid[i:i + T + 1][None, :-1]), saved_used[EMB[arch]],
                            cvalid[i + 1:i + T + 1][None], n_unused).sum().item() for i in range(0, len(cvalid) - T - 1, T)) / (((len(cvalid) - T - 1 + T - 1) // T) * T)
    # Perplexities on kjv-valid.txt tokenized as one text, as `opshift eval perplexity` does.
    ppl, n_scored = sliding_window_ppl(arch, cfg, saved_used, cvalid_text.tolist(), 256, 128, n_unused)
    ppl_subset, n_subset = sliding_window_ppl(arch, cfg, saved_used, cvalid_text[:2048].tolist(), 256, 128, n_unused)
    metrics = {
        "arch": arch, "parameters": sum(t.numel() for t in state.values()), "trained_parameters": sum(p.numel() for p in w.values()),
        "vocab_rows_used": len(used), "train_tokens": len(train), "valid_tokens": len(valid), "steps": step,
        "tokens_seen": tokens, "epochs": tokens / len(train), "minutes": (time.time() - t0) / 60, "batch": B, "seq": T,
        "peak_lr": args.lr, "final_train_loss": sum(losses[-50:]) / max(1, len(losses[-50:])), "valid_loss": vl,
        "valid_perplexity": ppl, "valid_perplexity_window": 256, "valid_perplexity_stride": 128, "valid_perplexity_tokens_scored": n_scored,
        "subset_first_tokens": 2048, "subset_perplexity": ppl_subset, "subset_tokens_scored": n_subset,
        "torch": torch.__version__, "seed": args.seed,
        "stages": stages + [{"steps": step, "tokens": tokens, "minutes": (time.time() - t0) / 60, "peak_lr": args.lr, "batch": B, "seq": T,
                             "init_from": args.init_from}],
    }
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    print(json.dumps(metrics, indent=2), flush=True)


if __name__ == "__main__":
    main()
