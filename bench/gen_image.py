#!/usr/bin/env python3
"""Writes a `docker save` archive of a synthetic multi-layer image (stdlib only).

    bench/gen_image.py OUT.tar [--size-mb 100] [--layers 4] [--tag isola-bench/load:latest] [--seed 1]

The archive has the layout `docker save` writes and `docker load`, `podman load`
and `isola load` read: manifest.json, repositories, <config-hex>.json and one
<layer-id>/{VERSION,json,layer.tar} per layer (uncompressed tars).

The content is deterministic for a given seed and "random-ish": roughly half of
the bytes are incompressible (PRNG output), half are text-like and compress
well, spread over many small files, medium files and a few large ones. The last
layer (when there are 2 or more) modifies files of earlier layers, deletes one
file (whiteout `.wh.NAME`) and replaces one directory (opaque `.wh..wh..opq`),
and adds a symlink and a hard link, so loaders exercise the usual layer
features, not just bulk copying.
"""

import argparse
import hashlib
import io
import json
import os
import random
import sys
import tarfile
import tempfile

EPOCH = 1700000000  # fixed mtime: same seed, same bytes
WORDS = (
    b"alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi "
    b"omicron pi rho sigma tau upsilon phi chi psi omega container layer image "
).split()


def die(msg):
    print(f"gen_image: error: {msg}", file=sys.stderr)
    sys.exit(2)


_POOL = []


def textish(rng, n):
    """n bytes of compressible, text-like data (slices of a word pool)."""
    if not _POOL:
        prng = random.Random(0)
        lines = []
        size = 0
        while size < (2 << 20):
            line = b" ".join(prng.choice(WORDS) for _ in range(prng.randint(4, 14))) + b"\n"
            lines.append(line)
            size += len(line)
        _POOL.append(b"".join(lines))
    pool = _POOL[0]
    out = bytearray()
    while len(out) < n:
        off = rng.randrange(len(pool) // 2)
        out += pool[off:off + min(n - len(out), len(pool) - off)]
    return bytes(out)


def blob(rng, n):
    """n bytes, about half incompressible and half text-like."""
    half = n // 2
    return rng.randbytes(half) + textish(rng, n - half)


class Layer:
    """Builds one layer tar on disk, hashing it as it goes."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "wb")
        self.tar = tarfile.open(fileobj=self.f, mode="w", format=tarfile.PAX_FORMAT)
        self.dirs = set()
        self.bytes = 0

    def _info(self, name, kind, mode, size=0):
        ti = tarfile.TarInfo(name)
        ti.type = kind
        ti.mode = mode
        ti.size = size
        ti.mtime = EPOCH
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        return ti

    def mkdirs(self, path):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self.dirs:
                self.dirs.add(d)
                self.tar.addfile(self._info(d + "/", tarfile.DIRTYPE, 0o755))

    def file(self, name, data, mode=0o644):
        self.mkdirs(os.path.dirname(name))
        self.tar.addfile(self._info(name, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
        self.bytes += len(data)

    def symlink(self, name, target):
        self.mkdirs(os.path.dirname(name))
        ti = self._info(name, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.tar.addfile(ti)

    def hardlink(self, name, target):
        self.mkdirs(os.path.dirname(name))
        ti = self._info(name, tarfile.LNKTYPE, 0o644)
        ti.linkname = target
        self.tar.addfile(ti)

    def close(self):
        self.tar.close()
        self.f.close()
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()


def fill_layer(layer, idx, nlayers, budget, rng):
    """Fills layer idx (0-based) with about `budget` bytes of content."""
    last = nlayers >= 2 and idx == nlayers - 1
    if last:
        # Modifications of earlier layers, plus whiteouts and links.
        layer.file("etc/bench-release", textish(rng, 4096))
        layer.file("usr/share/bench/l0/.wh.f0000.txt", b"")          # delete a file
        layer.file("usr/share/bench/l0/sub001/.wh..wh..opq", b"")    # replace a dir
        layer.file("usr/share/bench/l0/sub001/new.txt", textish(rng, 1024))
        layer.symlink("usr/bin/bench-tool", "/opt/bench/l0/big0.bin")
        layer.file("opt/bench/update/data.bin", blob(rng, 65536))
        layer.hardlink("opt/bench/update/data-link.bin", "opt/bench/update/data.bin")
    # Three tiers per layer: many small files (10%), medium files (40%),
    # a few large ones (50%).
    small, medium, large = budget // 10, budget * 4 // 10, budget - budget // 10 - budget * 4 // 10
    n = 0
    while small > 0:
        size = min(small, rng.randint(512, 8192))
        layer.file(f"usr/share/bench/l{idx}/sub{n // 100:03d}/f{n:04d}.txt", textish(rng, size))
        small -= size
        n += 1
    m = 0
    while medium > 0:
        size = min(medium, rng.randint(64 << 10, 1 << 20))
        layer.file(f"usr/lib/bench/l{idx}/lib{m:03d}.so", blob(rng, size), 0o755)
        medium -= size
        m += 1
    k = 0
    while large > 0:
        size = min(large, 12 << 20)
        layer.file(f"opt/bench/l{idx}/big{k}.bin", blob(rng, size))
        large -= size
        k += 1
    if idx == 0:
        layer.file("etc/bench-release", b"isola bench image, layer 0\n")
        layer.file("bin/.keep", b"")


def main():
    ap = argparse.ArgumentParser(description="Write a docker-save archive of a synthetic multi-layer image.")
    ap.add_argument("out", help="archive to write (.tar)")
    ap.add_argument("--size-mb", type=float, default=100, help="total file content, MiB (default 100)")
    ap.add_argument("--layers", type=int, default=4, help="number of layers (default 4)")
    ap.add_argument("--tag", default="isola-bench/load:latest", help="repo:tag recorded in the archive")
    ap.add_argument("--seed", type=int, default=1, help="PRNG seed (default 1)")
    a = ap.parse_args()
    if a.layers < 1 or a.layers > 64:
        die("--layers must be between 1 and 64")
    if a.size_mb <= 0:
        die("--size-mb must be positive")
    if ":" not in a.tag.rsplit("/", 1)[-1]:
        die(f"--tag must be REPO:TAG, got {a.tag!r}")
    repo, tag = a.tag.rsplit(":", 1)
    rng = random.Random(a.seed)
    total = int(a.size_mb * (1 << 20))
    per = total // a.layers

    outdir = os.path.dirname(os.path.abspath(a.out))
    with tempfile.TemporaryDirectory(dir=outdir, prefix=".gen_image.") as tmp:
        diff_ids, layer_ids, history = [], [], []
        parent = ""
        for i in range(a.layers):
            lp = os.path.join(tmp, f"layer{i}.tar")
            layer = Layer(lp)
            fill_layer(layer, i, a.layers, per if i < a.layers - 1 else total - per * (a.layers - 1), rng)
            diff = layer.close()
            diff_ids.append("sha256:" + diff)
            lid = hashlib.sha256((parent + diff).encode()).hexdigest()
            layer_ids.append((lid, lp, parent))
            parent = lid
            history.append({"created": "2023-11-14T22:13:20Z", "created_by": f"/bin/sh -c #(nop) bench layer {i}"})
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "2023-11-14T22:13:20Z",
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["sh"],
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }
        cbytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        chex = hashlib.sha256(cbytes).hexdigest()
        manifest = [{
            "Config": f"{chex}.json",
            "RepoTags": [a.tag],
            "Layers": [f"{lid}/layer.tar" for lid, _, _ in layer_ids],
        }]
        repositories = {repo: {tag: layer_ids[-1][0]}}

        def add_bytes(t, name, data, kind=tarfile.REGTYPE, mode=0o644):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime, ti.size = kind, mode, EPOCH, len(data)
            t.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        tmp_out = a.out + ".part"
        with tarfile.open(tmp_out, "w", format=tarfile.PAX_FORMAT) as t:
            for lid, lp, par in layer_ids:
                add_bytes(t, lid + "/", b"", tarfile.DIRTYPE, 0o755)
                add_bytes(t, f"{lid}/VERSION", b"1.0")
                v1 = {"id": lid, "created": "2023-11-14T22:13:20Z", "os": "linux"}
                if par:
                    v1["parent"] = par
                add_bytes(t, f"{lid}/json", json.dumps(v1).encode())
                ti = t.gettarinfo(lp, arcname=f"{lid}/layer.tar")
                ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname, ti.mode = EPOCH, 0, 0, "", "", 0o644
                with open(lp, "rb") as f:
                    t.addfile(ti, f)
            add_bytes(t, f"{chex}.json", cbytes)
            add_bytes(t, "manifest.json", json.dumps(manifest).encode())
            add_bytes(t, "repositories", json.dumps(repositories).encode())
        os.replace(tmp_out, a.out)
    size = os.path.getsize(a.out)
    print(f"gen_image: wrote {a.out}: {a.tag}, {a.layers} layers, {size / (1 << 20):.1f} MiB", file=sys.stderr)


if __name__ == "__main__":
    main()
