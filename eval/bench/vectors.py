"""Dense vectors for large benchmark indexes: real embeddings of a pool, then seeded noisy combinations of them.

Embedding 100k+ chunks with the real models is out of reach on a small machine, so big indexes get vectors that
live where real ones do: each is a normalised random convex mix of three real pool vectors plus Gaussian noise.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

NOISE = 0.35  # norm of the noise added to a mix (mixes of real vectors have norm ~0.6-0.9)


class VectorPool:
    """Real embeddings per model name (rows L2-normalised), saved to and loaded from one ``.npz`` file."""

    def __init__(self, rows: dict[str, np.ndarray]) -> None:
        self.rows = {name: np.asarray(m, dtype=np.float32) for name, m in rows.items()}

    def fingerprint(self) -> str:
        """Identity of the pool contents (any change means indexes built on it are stale)."""
        h = hashlib.sha256()
        for name in sorted(self.rows):
            h.update(name.encode() + b"\x00")
            h.update(np.round(self.rows[name], 3).tobytes())
        return h.hexdigest()[:16]

    def save(self, path: Path) -> None:
        """Write the pool (atomic replace)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        arrays: dict[str, Any] = {"names": np.array(json.dumps(sorted(self.rows))), **self.rows}
        np.savez(tmp, **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> VectorPool:
        """Read a pool written by ``save``."""
        with np.load(path) as data:
            names = json.loads(str(data["names"]))
            return cls({name: data[name] for name in names})


def synthetic(pool: np.ndarray, n: int, rng: np.random.Generator, noise: float = NOISE) -> np.ndarray:
    """``n`` normalised rows, each a Dirichlet mix of three pool rows plus isotropic noise of norm ~``noise``."""
    if n == 0:
        return np.zeros((0, pool.shape[1]), dtype=np.float32)
    idx = rng.integers(0, len(pool), size=(n, 3))
    weights = rng.dirichlet(np.ones(3), size=n).astype(np.float32)
    mixed = np.einsum("nk,nkd->nd", weights, pool[idx])
    mixed += rng.normal(0.0, noise / np.sqrt(pool.shape[1]), size=mixed.shape).astype(np.float32)
    mixed /= np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-12)
    return mixed.astype(np.float32)
