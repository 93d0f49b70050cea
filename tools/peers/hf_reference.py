"""Reference forwards of Hugging Face's OPT and Llama in plain PyTorch (transformers is not installable here).

Followed line by line from modeling_opt.py, modeling_llama.py and rope_utils' llama3 scaling, in float32,
batch-first ids [B, T], full attention mask (no padding). Used by the golden-fixture script
(test/fixtures/make_models.py) and the demo-model trainer (models/demo/train.py): `*_hidden` gives the final
hidden states, `*_head` the logits, `*_forward` both. Weights are a dict of HF names -> tensors.
"""
import math

import torch
import torch.nn.functional as F


# ---------------------------------------------------------------- OPT (modeling_opt.py)

def opt_forward(cfg, w, ids, prefix="model.decoder."):
    return opt_head(cfg, w, opt_hidden(cfg, w, ids, prefix), prefix)


def opt_head(cfg, w, x, prefix="model.decoder."):
    return F.linear(x, w.get("lm_head.weight", w[prefix + "embed_tokens.weight"]))


def opt_hidden(cfg, w, ids, prefix="model.decoder."):
    """Hidden states after the final layer norm and project_out: [B, T, word_embed_proj_dim]."""
    T = ids.shape[-1]
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = hidden // heads
    pre = cfg["do_layer_norm_before"]
    x = F.embedding(ids, w[prefix + "embed_tokens.weight"])
    if cfg["word_embed_proj_dim"] != hidden:
        x = F.linear(x, w[prefix + "project_in.weight"])
    mask = torch.ones(ids.shape[0], T, dtype=torch.long)
    positions = (torch.cumsum(mask, dim=1) * mask).long() - 1 + 2  # OPTLearnedPositionalEmbedding, offset 2
    x = x + F.embedding(positions, w[prefix + "embed_positions.weight"])
    causal = torch.full((T, T), float("-inf")).triu(1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"{prefix}layers.{i}."
        ln = lambda h, n: F.layer_norm(h, (hidden,), w[p + n + ".weight"], w[p + n + ".bias"], 1e-5)
        lin = lambda h, n: F.linear(h, w[p + n + ".weight"], w[p + n + ".bias"])
        res = x
        h = ln(x, "self_attn_layer_norm") if pre else x
        q = lin(h, "self_attn.q_proj") * hd ** -0.5
        k = lin(h, "self_attn.k_proj")
        v = lin(h, "self_attn.v_proj")
        sh = lambda t: t.view(-1, T, heads, hd).transpose(1, 2)
        att = torch.softmax(sh(q) @ sh(k).transpose(-1, -2) + causal, dim=-1)
        o = (att @ sh(v)).transpose(1, 2).reshape(-1, T, hidden)
        x = res + lin(o, "self_attn.out_proj")
        if not pre:
            x = ln(x, "self_attn_layer_norm")
        res = x
        h = ln(x, "final_layer_norm") if pre else x
        h = lin(torch.relu(lin(h, "fc1")), "fc2")
        x = res + h
        if not pre:
            x = ln(x, "final_layer_norm")
    if pre:
        x = F.layer_norm(x, (hidden,), w[prefix + "final_layer_norm.weight"], w[prefix + "final_layer_norm.bias"], 1e-5)
    if cfg["word_embed_proj_dim"] != hidden:
        x = F.linear(x, w[prefix + "project_out.weight"])
    return x


def opt_state(cfg, g, prefix="model.decoder.", untied_head=False):
    hidden, ffn, vocab, proj = cfg["hidden_size"], cfg["ffn_dim"], cfg["vocab_size"], cfg["word_embed_proj_dim"]
    r = lambda *s: torch.randn(*s, generator=g) * 0.2
    s = {prefix + "embed_tokens.weight": r(vocab, proj) * 2, prefix + "embed_positions.weight": r(cfg["max_position_embeddings"] + 2, hidden)}
    if proj != hidden:
        s[prefix + "project_in.weight"] = r(hidden, proj)
        s[prefix + "project_out.weight"] = r(proj, hidden)
    if cfg["do_layer_norm_before"]:
        s[prefix + "final_layer_norm.weight"] = 1 + r(hidden)
        s[prefix + "final_layer_norm.bias"] = r(hidden)
    for i in range(cfg["num_hidden_layers"]):
        p = f"{prefix}layers.{i}."
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            s[p + f"self_attn.{n}.weight"] = r(hidden, hidden)
            s[p + f"self_attn.{n}.bias"] = r(hidden)
        for n in ("self_attn_layer_norm", "final_layer_norm"):
            s[p + n + ".weight"] = 1 + r(hidden)
            s[p + n + ".bias"] = r(hidden)
        s[p + "fc1.weight"], s[p + "fc1.bias"] = r(ffn, hidden), r(ffn)
        s[p + "fc2.weight"], s[p + "fc2.bias"] = r(hidden, ffn), r(hidden)
    if untied_head:
        s["lm_head.weight"] = r(vocab, proj) * 2
    return s


def opt_config(**kw):
    c = {
        "architectures": ["OPTForCausalLM"], "model_type": "opt", "vocab_size": 96, "hidden_size": 32,
        "num_hidden_layers": 2, "num_attention_heads": 4, "ffn_dim": 64, "max_position_embeddings": 64,
        "do_layer_norm_before": True, "word_embed_proj_dim": 32, "activation_function": "relu",
        "enable_bias": True, "layer_norm_elementwise_affine": True, "bos_token_id": 2, "eos_token_id": 2,
        "pad_token_id": 1, "tie_word_embeddings": True,
    }
    c.update(kw)
    return c


# ---------------------------------------------------------------- Llama (modeling_llama.py)

def llama_inv_freq(cfg):
    hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    base = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        factor, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        low_wl, high_wl = old / lo, old / hi
        wl = 2 * math.pi / inv
        inv_l = torch.where(wl > low_wl, inv / factor, inv)
        smooth = (old / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        medium = ~(wl < high_wl) * ~(wl > low_wl)
        inv = torch.where(medium, smoothed, inv_l)
    return inv


def rms(x, wgt, eps):
    x32 = x.to(torch.float32)
    var = x32.pow(2).mean(-1, keepdim=True)
    return wgt * (x32 * torch.rsqrt(var + eps)).to(x.dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def llama_forward(cfg, w, ids):
    return llama_head(cfg, w, llama_hidden(cfg, w, ids))


def llama_head(cfg, w, x):
    return F.linear(x, w.get("lm_head.weight", w["model.embed_tokens.weight"]))


def llama_hidden(cfg, w, ids):
    """Hidden states after the final RMSNorm: [B, T, hidden]."""
    T = ids.shape[-1]
    hidden, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or hidden // H
    eps = cfg["rms_norm_eps"]
    x = F.embedding(ids, w["model.embed_tokens.weight"])
    inv = llama_inv_freq(cfg)
    pos = torch.arange(T).float()
    freqs = (inv[:, None] @ pos[None, :]).transpose(0, 1)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    causal = torch.full((T, T), float("-inf")).triu(1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        lin = lambda h, n: F.linear(h, w[p + n + ".weight"])
        res = x
        h = rms(x, w[p + "input_layernorm.weight"], eps)
        q = lin(h, "self_attn.q_proj").view(-1, T, H, hd).transpose(1, 2)
        k = lin(h, "self_attn.k_proj").view(-1, T, KV, hd).transpose(1, 2)
        v = lin(h, "self_attn.v_proj").view(-1, T, KV, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) * hd ** -0.5 + causal, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(-1, T, H * hd)
        x = res + lin(o, "self_attn.o_proj")
        res = x
        h = rms(x, w[p + "post_attention_layernorm.weight"], eps)
        x = res + lin(F.silu(lin(h, "mlp.gate_proj")) * lin(h, "mlp.up_proj"), "mlp.down_proj")
    return rms(x, w["model.norm.weight"], eps)


def llama_state(cfg, g):
    hidden, H, KV, ffn, vocab = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = cfg.get("head_dim") or hidden // H
    r = lambda *s: torch.randn(*s, generator=g) * 0.2
    s = {"model.embed_tokens.weight": r(vocab, hidden) * 2, "model.norm.weight": 1 + r(hidden)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        s[p + "self_attn.q_proj.weight"] = r(H * hd, hidden)
        s[p + "self_attn.k_proj.weight"] = r(KV * hd, hidden)
        s[p + "self_attn.v_proj.weight"] = r(KV * hd, hidden)
        s[p + "self_attn.o_proj.weight"] = r(hidden, H * hd)
        s[p + "mlp.gate_proj.weight"] = r(ffn, hidden)
        s[p + "mlp.up_proj.weight"] = r(ffn, hidden)
        s[p + "mlp.down_proj.weight"] = r(hidden, ffn)
        s[p + "input_layernorm.weight"] = 1 + r(hidden)
        s[p + "post_attention_layernorm.weight"] = 1 + r(hidden)
    if not cfg["tie_word_embeddings"]:
        s["lm_head.weight"] = r(vocab, hidden) * 2
    return s


def llama_config(**kw):
    c = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 96, "hidden_size": 32,
        "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4,
        "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "rope_scaling": None,
        "tie_word_embeddings": False, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2,
        "attention_bias": False, "mlp_bias": False,
    }
    c.update(kw)
    return c
