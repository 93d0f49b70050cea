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


# ---------------------------------------------------------------- Llama-shaped families (mistral, qwen2, phi3)
# modeling_mistral.py / modeling_qwen2.py / modeling_phi3.py, with masking_utils' sliding window and padding
# masks and rope_utils' LongRoPE. `attention_mask` [B, T] (1 = token, 0 = left padding) is optional.

def family_layer_windows(cfg):
    """The sliding window of each layer (None = full attention), as the configuration classes decide."""
    n, t = cfg["num_hidden_layers"], cfg["model_type"]
    w = cfg.get("sliding_window")
    if t == "qwen2":
        w = w if cfg.get("use_sliding_window", False) else None  # Qwen2Config.__post_init__
        types = cfg.get("layer_types") or [
            "sliding_attention" if w is not None and i >= cfg.get("max_window_layers", 28) else "full_attention" for i in range(n)
        ]
        return [w if types[i] == "sliding_attention" else None for i in range(n)]
    if t in ("mistral", "phi3"):
        return [w] * n
    return [None] * n


def family_rope(cfg, position_ids):
    """cos, sin [B, T, rotary_dim] (Phi3RotaryEmbedding / LlamaRotaryEmbedding forward, float32)."""
    hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    dim = int(hd * cfg.get("partial_rotary_factor", 1.0))
    base = cfg.get("rope_theta", 10000.0)
    rs = cfg.get("rope_scaling") or {}
    scaling = 1.0
    if rs.get("type", rs.get("rope_type")) in ("longrope", "su", "yarn") and cfg["model_type"] == "phi3":
        # _compute_longrope_parameters, with longrope_frequency_update's seq_len = max(position_ids) + 1
        orig = cfg.get("original_max_position_embeddings") or rs.get("original_max_position_embeddings") or cfg["max_position_embeddings"]
        factor = rs.get("factor") or cfg["max_position_embeddings"] / orig
        scaling = rs.get("attention_factor") or (1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(orig)))
        seq_len = int(torch.max(position_ids)) + 1
        ext = torch.tensor(rs["long_factor"] if seq_len > orig else rs["short_factor"], dtype=torch.float32)
        inv_freq_shape = torch.arange(0, dim, 2, dtype=torch.int64).float() / dim
        inv = 1.0 / (ext * base ** inv_freq_shape)
    else:
        inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    inv_e = inv[None, :, None].expand(position_ids.shape[0], -1, 1).float()
    freqs = (inv_e @ position_ids[:, None, :].float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos() * scaling, emb.sin() * scaling


def family_rotary(x, cos, sin):
    """apply_rotary_pos_emb with partial rotary (modeling_phi3.py): rotate the first cos.shape[-1] channels."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    r = cos.shape[-1]
    x_rot, x_pass = x[..., :r], x[..., r:]
    return torch.cat([(x_rot * cos) + (rotate_half(x_rot) * sin), x_pass], dim=-1)


def family_mask(T, window, attention_mask):
    """Additive [B, 1, T, T] mask: causal, sliding (kv_idx > q_idx - window), padded keys; eager's finfo.min."""
    q = torch.arange(T)[:, None]
    kv = torch.arange(T)[None, :]
    allowed = kv <= q
    if window is not None:
        allowed = allowed & (kv > q - window)
    allowed = allowed[None, None].expand(attention_mask.shape[0], 1, T, T)
    allowed = allowed & attention_mask[:, None, None, :].bool()
    return torch.where(allowed, torch.tensor(0.0), torch.tensor(torch.finfo(torch.float32).min))


def family_forward(cfg, w, ids, attention_mask=None):
    return llama_head(cfg, w, family_hidden(cfg, w, ids, attention_mask))


def family_hidden(cfg, w, ids, attention_mask=None):
    B, T = ids.shape
    t = cfg["model_type"]
    hidden, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or hidden // H
    eps = cfg["rms_norm_eps"]
    if attention_mask is None:
        attention_mask = torch.ones(B, T, dtype=torch.long)
    # generation utils: position_ids = cumsum(mask) - 1, padding at 1
    position_ids = attention_mask.long().cumsum(-1) - 1
    position_ids.masked_fill_(attention_mask == 0, 1)
    cos, sin = family_rope(cfg, position_ids)
    windows = family_layer_windows(cfg)
    x = F.embedding(ids, w["model.embed_tokens.weight"])
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        lin = lambda h, n: F.linear(h, w[p + n + ".weight"], w.get(p + n + ".bias"))
        res = x
        h = rms(x, w[p + "input_layernorm.weight"], eps)
        if t == "phi3":
            qkv = lin(h, "self_attn.qkv_proj")
            qp = H * hd
            q, k, v = qkv[..., :qp], qkv[..., qp:qp + KV * hd], qkv[..., qp + KV * hd:]
        else:
            q, k, v = lin(h, "self_attn.q_proj"), lin(h, "self_attn.k_proj"), lin(h, "self_attn.v_proj")
        q = q.reshape(B, T, -1, hd).transpose(1, 2)
        k = k.reshape(B, T, -1, hd).transpose(1, 2)
        v = v.reshape(B, T, -1, hd).transpose(1, 2)
        q, k = family_rotary(q, cos, sin), family_rotary(k, cos, sin)
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        att = q @ k.transpose(2, 3) * hd ** -0.5 + family_mask(T, windows[i], attention_mask)
        att = torch.softmax(att, dim=-1, dtype=torch.float32)
        o = (att @ v).transpose(1, 2).reshape(B, T, H * hd)
        x = res + lin(o, "self_attn.o_proj")
        res = x
        h = rms(x, w[p + "post_attention_layernorm.weight"], eps)
        if t == "phi3":
            gate, up = lin(h, "mlp.gate_up_proj").chunk(2, dim=-1)
            h = up * F.silu(gate)
        else:
            h = F.silu(lin(h, "mlp.gate_proj")) * lin(h, "mlp.up_proj")
        x = res + lin(h, "mlp.down_proj")
    return rms(x, w["model.norm.weight"], eps)


def family_state(cfg, g):
    """Random weights with Hugging Face's names: Qwen2 q/k/v biases, Phi-3 fused qkv_proj / gate_up_proj."""
    t = cfg["model_type"]
    hidden, H, KV, ffn, vocab = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = cfg.get("head_dim") or hidden // H
    r = lambda *s: torch.randn(*s, generator=g) * 0.2
    s = {"model.embed_tokens.weight": r(vocab, hidden) * 2, "model.norm.weight": 1 + r(hidden)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        if t == "phi3":
            s[p + "self_attn.qkv_proj.weight"] = r((H + 2 * KV) * hd, hidden)
            s[p + "mlp.gate_up_proj.weight"] = r(2 * ffn, hidden)
        else:
            s[p + "self_attn.q_proj.weight"] = r(H * hd, hidden)
            s[p + "self_attn.k_proj.weight"] = r(KV * hd, hidden)
            s[p + "self_attn.v_proj.weight"] = r(KV * hd, hidden)
            s[p + "mlp.gate_proj.weight"] = r(ffn, hidden)
            s[p + "mlp.up_proj.weight"] = r(ffn, hidden)
        if t == "qwen2":
            s[p + "self_attn.q_proj.bias"] = r(H * hd)
            s[p + "self_attn.k_proj.bias"] = r(KV * hd)
            s[p + "self_attn.v_proj.bias"] = r(KV * hd)
        s[p + "self_attn.o_proj.weight"] = r(hidden, H * hd)
        s[p + "mlp.down_proj.weight"] = r(hidden, ffn)
        s[p + "input_layernorm.weight"] = 1 + r(hidden)
        s[p + "post_attention_layernorm.weight"] = 1 + r(hidden)
    if not cfg["tie_word_embeddings"]:
        s["lm_head.weight"] = r(vocab, hidden) * 2
    return s


def family_config(model_type, **kw):
    arch = {"mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM", "phi3": "Phi3ForCausalLM"}[model_type]
    c = llama_config(architectures=[arch], model_type=model_type)
    for k in ("attention_bias", "mlp_bias"):
        c.pop(k)
    c.update(kw)
    return c


# ---------------------------------------------------------------- GPTQ (AutoGPTQ's quantizer and pack())

def gptq_quantize(W, group_size, sym, bits=4):
    """GPTQ's Quantizer.find_params per group of input columns (round-to-nearest; the Hessian update only moves
    which integers are chosen, not the format). Returns int weights [N, K], scales fp16 [groups, N], zeros [groups, N]."""
    N, K = W.shape
    maxq = 2 ** bits - 1
    groups = K // group_size
    q = torch.zeros(N, K, dtype=torch.int64)
    scales = torch.zeros(groups, N)
    zeros = torch.zeros(groups, N, dtype=torch.int64)
    for g in range(groups):
        x = W[:, g * group_size:(g + 1) * group_size]
        xmin = torch.minimum(x.min(1).values, torch.zeros(N))
        xmax = torch.maximum(x.max(1).values, torch.zeros(N))
        if sym:
            xmax = torch.maximum(xmin.abs(), xmax)
            xmin = torch.where(xmin < 0, -xmax, xmin)
        tmp = (xmin == 0) & (xmax == 0)
        xmin[tmp], xmax[tmp] = -1, +1
        scale = ((xmax - xmin) / maxq).half().float()  # stored as fp16: quantize against the stored value
        zero = torch.full_like(scale, (maxq + 1) / 2) if sym else torch.round(-xmin / scale)
        q[:, g * group_size:(g + 1) * group_size] = torch.clamp(torch.round(x / scale[:, None]) + zero[:, None], 0, maxq).long()
        scales[g], zeros[g] = scale, zero.long()
    return q, scales.half(), zeros


def gptq_pack(q, scales, zeros, group_size, bits=4):
    """AutoGPTQ's QuantLinear.pack layout: qweight int32 [K/8, N] (8 input rows a word), qzeros int32 [groups, N/8]
    (8 output columns a word) holding zero - 1 (checkpoint_format "gptq"), g_idx [K]. AutoGPTQ shifts the unmasked
    zero - 1, which smears a -1 over the next nibbles; here it is masked to its 4 bits (the value readers decode)."""
    N, K = q.shape
    per = 32 // bits
    iw = q.t().contiguous().numpy().astype("uint32")  # [K, N]
    qweight = torch.zeros(K // per, N, dtype=torch.int64)
    for row in range(K // per):
        word = torch.zeros(N, dtype=torch.int64)
        for j in range(per):
            word |= torch.from_numpy(iw[row * per + j].astype("int64")) << (bits * j)
        qweight[row] = word
    z = (zeros - 1) & (2 ** bits - 1)  # [groups, N]
    qzeros = torch.zeros(z.shape[0], N // per, dtype=torch.int64)
    for col in range(N // per):
        for j in range(per):
            qzeros[:, col] |= z[:, col * per + j] << (bits * j)
    to_i32 = lambda t: ((t + 2 ** 31) % 2 ** 32 - 2 ** 31).to(torch.int32)
    g_idx = torch.tensor([i // group_size for i in range(K)], dtype=torch.int32)
    return to_i32(qweight), to_i32(qzeros), scales, g_idx


def gptq_dequantize(qweight, qzeros, scales, g_idx, bits=4):
    """The float weight [N, K] a GPTQ linear stands for, as AutoGPTQ's torch path unpacks it."""
    per = 32 // bits
    wf = torch.tensor(list(range(0, 32, bits)), dtype=torch.int32)
    zeros = torch.bitwise_right_shift(torch.unsqueeze(qzeros, 2).expand(-1, -1, per), wf.unsqueeze(0)).to(torch.int16)
    zeros = torch.bitwise_and(zeros + 1, (2 ** bits) - 1).reshape(scales.shape)  # v1: stored zero - 1
    weight = torch.bitwise_and(torch.bitwise_right_shift(torch.unsqueeze(qweight, 1).expand(-1, per, -1), wf.unsqueeze(-1)).to(torch.int16), (2 ** bits) - 1)
    weight = weight.reshape(weight.shape[0] * weight.shape[1], weight.shape[2])  # [K, N]
    w = scales.float()[g_idx.long()] * (weight - zeros[g_idx.long()]).float()
    return w.t().contiguous()


# ---------------------------------------------------------------- AutoAWQ GEMV (WQLinear_GEMV.from_linear's layout)

def awq_quantize(W, group_size, bits=4):
    """AWQ's pseudo_quantize_tensor (zero point): int weights [N, K], scales fp16 [N, groups], zeros [N, groups]."""
    N, K = W.shape
    maxq = 2 ** bits - 1
    w = W.reshape(N, K // group_size, group_size)
    mx, mn = w.amax(dim=2), w.amin(dim=2)
    scales = ((mx - mn).clamp(min=1e-5) / maxq).half().float()
    zeros = (-torch.round(mn / scales)).clamp(0, maxq)
    q = torch.clamp(torch.round(w / scales[..., None]) + zeros[..., None], 0, maxq).long().reshape(N, K)
    return q, scales.half(), zeros.long()


def awq_gemv_zeros_width(K, group_size):
    mult = 1 if group_size >= 128 else 2 if group_size == 64 else 4
    base = (K // group_size + 7) // 8
    return (base + mult - 1) // mult * mult


def awq_gemv_pack(q, scales, zeros, group_size, bits=4):
    """qweight int32 [N, K/8] (8 input columns a word, in order), qzeros int32 [N, W] (8 groups a word), scales
    fp16 [N, 8W] (groups past K/G are zero padding)."""
    N, K = q.shape
    per = 32 // bits
    W = awq_gemv_zeros_width(K, group_size)
    qweight = torch.zeros(N, K // per, dtype=torch.int64)
    for col in range(K // per):
        for i in range(per):
            qweight[:, col] |= q[:, col * per + i] << (i * bits)
    qzeros = torch.zeros(N, W, dtype=torch.int64)
    for g in range(zeros.shape[1]):
        qzeros[:, g // per] |= zeros[:, g] << ((g % per) * bits)
    qscales = torch.zeros(N, W * per, dtype=torch.float16)
    qscales[:, : scales.shape[1]] = scales
    to_i32 = lambda t: ((t + 2 ** 31) % 2 ** 32 - 2 ** 31).to(torch.int32)
    return to_i32(qweight), to_i32(qzeros), qscales


def awq_gemv_dequantize(qweight, qzeros, scales, group_size, bits=4):
    N = qweight.shape[0]
    K = qweight.shape[1] * 8
    shifts = torch.arange(0, 32, bits, dtype=torch.int32)
    q = torch.bitwise_and(torch.bitwise_right_shift(qweight[:, :, None], shifts), 15).reshape(N, K)
    z = torch.bitwise_and(torch.bitwise_right_shift(qzeros[:, :, None], shifts), 15).reshape(N, -1)[:, : K // group_size]
    s = scales.float()[:, : K // group_size]
    g = torch.arange(K) // group_size
    return s[:, g] * (q - z[:, g]).float()
