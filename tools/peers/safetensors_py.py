"""safetensors files written by hand from the spec (the `safetensors` Python package is not installable here),
shared by the fixture scripts (test/fixtures/make_safetensors.py, make_models.py) and the demo-model trainer
(models/demo/train.py), all run with Debian's PyTorch.

Format: u64 little-endian header length, compact JSON header padded with spaces to a multiple of 8 bytes, then
the data. Tensors are laid out as the reference implementation does: descending by its dtype enum
(BOOL < U8 < I8 < I16 < F16 < BF16 < I32 < F32 < F64 < I64), then by name.
"""
import json
import struct

import torch

RANK = {'BOOL': 0, 'U8': 1, 'I8': 2, 'I16': 5, 'F16': 7, 'BF16': 8, 'I32': 9, 'F32': 11, 'F64': 12, 'I64': 13}
NAME = {
    torch.float64: 'F64', torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16',
    torch.int64: 'I64', torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8', torch.uint8: 'U8',
    torch.bool: 'BOOL',
}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: go through the int16 bit pattern
        t = t.view(torch.int16)
    return t.numpy().tobytes()  # little-endian on this host


def save(path, tensors, metadata=None):
    """Write name -> tensor (and optional string metadata) to `path`."""
    items = sorted(tensors.items(), key=lambda kv: (-RANK[NAME[kv[1].dtype]], kv[0].encode('utf-8')))
    header = {}
    if metadata is not None:
        header['__metadata__'] = dict(sorted(metadata.items()))
    offset = 0
    blobs = []
    for name, t in items:
        b = tensor_bytes(t)
        header[name] = {'dtype': NAME[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    js = json.dumps(header, separators=(',', ':'), ensure_ascii=False).encode('utf-8')
    js += b' ' * ((8 - len(js) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)




_FROM = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "I64": torch.int64, "I32": torch.int32,
         "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}


def load(path):
    """name -> tensor of a safetensors file (bf16 through its int16 bit pattern)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = bytearray(data[b:end])
        if e["dtype"] == "BF16":
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16) if raw else torch.empty(0, dtype=torch.bfloat16)
        else:
            t = torch.frombuffer(raw, dtype=_FROM[e["dtype"]]) if raw else torch.empty(0, dtype=_FROM[e["dtype"]])
        out[name] = t.reshape(e["shape"])
    return out
