# (`opshift bench compare`'s llama.cpp inputs; README, Benchmarks. Uses llama.cpp's gguf-py, imported, not copied.)
# Random-weight Llama-architecture GGUF files (F32 or F16) with the gguf-py package from a llama.cpp checkout
# (run with PYTHONPATH=<llama.cpp>/gguf-py). Vocabulary: a synthetic SentencePiece-style ("llama") list of V tokens
# (<unk>,<s>,</s>, 256 byte tokens, then dummy pieces) so that node-llama-cpp can initialise a tokenizer.
# usage: make_gguf.py opt|tinyllama f32|f16 OUT.gguf
#   opt       : OPT-125m-shaped: 12 layers, d 768, 12 heads (kv 12), SwiGLU ffn 2048 (= param count of OPT's 2x3072 ReLU MLP),
#               vocab 50272, tied embeddings  (~124M params; llama.cpp has no OPT architecture)
#   tinyllama : 22 layers, d 2048, 32 heads, 4 kv heads, ffn 5632, vocab 32000, untied output (~1.1B params)
import sys, numpy as np, gguf
shape, ft, out = sys.argv[1], sys.argv[2], sys.argv[3]
if shape == 'opt': L, D, H, KVH, FF, V, tied = 12, 768, 12, 12, 2048, 50272, True
else:              L, D, H, KVH, FF, V, tied = 22, 2048, 32, 4, 5632, 32000, False
HD = D // H; dt = np.float32 if ft == 'f32' else np.float16
rng = np.random.default_rng(0)
def R(*s): return (rng.standard_normal(s, dtype=np.float32) * 0.02).astype(dt)
w = gguf.GGUFWriter(out, 'llama')
w.add_name(f'random-{shape}'); w.add_context_length(2048); w.add_embedding_length(D); w.add_block_count(L)
w.add_feed_forward_length(FF); w.add_head_count(H); w.add_head_count_kv(KVH); w.add_rope_dimension_count(HD)
w.add_layer_norm_rms_eps(1e-5); w.add_rope_freq_base(10000.0); w.add_vocab_size(V); w.add_tokenizer_model('llama')
toks = ['<unk>', '<s>', '</s>'] + [f'<0x{b:02X}>' for b in range(256)]; toks += [f'\u2581t{i}' for i in range(V - len(toks))]
types = [2, 3, 3] + [6] * 256 + [1] * (V - 259)
w.add_token_list(toks); w.add_token_scores([0.0] * 259 + [-float(i) for i in range(V - 259)]); w.add_token_types(types)
w.add_bos_token_id(1); w.add_eos_token_id(2); w.add_unk_token_id(0)
w.add_file_type(0 if ft == 'f32' else 1)
n = 0
def T(name, arr):
    global n; n += arr.size; w.add_tensor(name, arr)
T('token_embd.weight', R(V, D))
for i in range(L):
    T(f'blk.{i}.attn_norm.weight', np.ones(D, np.float32))   # norms stay f32 as llama.cpp's converter does
    T(f'blk.{i}.attn_q.weight', R(D, D)); T(f'blk.{i}.attn_k.weight', R(KVH * HD, D)); T(f'blk.{i}.attn_v.weight', R(KVH * HD, D))
    T(f'blk.{i}.attn_output.weight', R(D, D)); T(f'blk.{i}.ffn_norm.weight', np.ones(D, np.float32))
    T(f'blk.{i}.ffn_gate.weight', R(FF, D)); T(f'blk.{i}.ffn_up.weight', R(FF, D)); T(f'blk.{i}.ffn_down.weight', R(D, FF))
T('output_norm.weight', np.ones(D, np.float32))
if not tied: T('output.weight', R(V, D))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
print(f'{out}: {n/1e6:.1f}M params')
