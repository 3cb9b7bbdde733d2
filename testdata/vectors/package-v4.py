#!/usr/bin/env python3
"""Vectors of trialog package format v4 (docs/package-format.md), computed
from the spec text alone with hashlib: the metadata record of a derived
package and a range proof that also proves the manifest leaf. Writes
testdata/vectors/package-v4.json."""
import base64, hashlib, json, sys

def H(b): return hashlib.sha256(b).digest()
def leaf_hash(d): return H(b"\x00" + d)
def node(l, r): return H(b"\x01" + l + r)

def mth(leaves):  # RFC 6962 Merkle tree hash of leaf hashes
    n = len(leaves)
    if n == 1: return leaves[0]
    k = 1
    while k * 2 < n: k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))

def subproof(m, lo, n, whole, out):  # RFC 6962 2.1.2, as [lo, hi) subtrees
    if m == n:
        if not whole: out.append((lo, lo + n))
        return
    k = 1
    while k * 2 < n: k *= 2
    if m <= k:
        subproof(m, lo, k, whole, out); out.append((lo + k, lo + n))
    else:
        subproof(m - k, lo + k, n - k, False, out); out.append((lo, lo + k))

def consistency(m, n):
    out = []
    if 0 < m < n: subproof(m, 0, n, True, out)
    return out

def compact_range(begin):  # perfect subtrees covering [0, begin), left to right
    out, lo = [], 0
    for bit in reversed(range(64)):
        if begin >> bit & 1:
            out.append((lo, lo + (1 << bit))); lo += 1 << bit
    return out

def uvarint(n):
    b = bytearray()
    while True:
        c = n & 0x7f; n >>= 7
        if n: b.append(c | 0x80)
        else: b.append(c); return bytes(b)

size = 23
data = [b"leaf %d" % i for i in range(size)]
data[12] = b"manifest leaf of a 7-row dataset at [5, 12)"
hashes = [leaf_hash(d) for d in data]
sub = lambda r: mth(hashes[r[0]:r[1]])
root = mth(hashes)
begin, rows = 5, 7
end = begin + rows + 1  # the rows, then the manifest leaf
left = [sub(r) for r in compact_range(begin)]
right = [sub(r) for r in consistency(end, size)]
range_value = base64.b64encode(b"".join(left + right)).decode()

manifest_leaf = data[12]
record_pairs = [
    ("trialog.selection", b"range"),
    ("trialog.manifest_leaf", manifest_leaf),          # bytes in the record
    ("trialog.range_proof", b"".join(left + right)),   # bytes in the record
    ("trialog.consistency", b"[]"),
    # salt key runs, bytes in the record: uvarint(first row) || 32-byte key per run
    ("trialog.salt_keys", uvarint(0) + bytes([0x11]) * 32 + uvarint(2) + bytes([0x22]) * 32),
]
record = b"".join(uvarint(len(k)) + k.encode() + uvarint(len(v)) + v for k, v in record_pairs)

json.dump({
    "spec": "trialog package format v4: range proof of the rows and the manifest leaf, a derived package's metadata record; computed with Python's hashlib from docs/package-format.md alone, checked by go test ./disclosure",
    "tree": {"size": size, "leaves_hex": [d.hex() for d in data], "root_hex": root.hex()},
    "range_proof": {"first_index": begin, "rows": rows, "manifest_index": begin + rows,
                    "left_subtrees": compact_range(begin), "right_subtrees": consistency(end, size),
                    "value": range_value, "range_root_hex": mth(hashes[begin:begin + rows]).hex()},
    "metadata_record": {"schema_metadata": {"trialog.package": "4", "trialog.mode": "derived"},
                        "pairs": [{"key": k, "value_hex": v.hex()} for k, v in record_pairs],
                        "record_hex": record.hex(),
                        "as_metadata": {k: (base64.b64encode(v).decode() if k in ("trialog.manifest_leaf", "trialog.range_proof", "trialog.salt_keys") else v.decode()) for k, v in record_pairs}},
}, sys.stdout, indent=1)
print()
