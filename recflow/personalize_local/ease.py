"""EASE (Steck, "Embarrassingly Shallow Autoencoders", WWW 2019): an item-item model in closed form.

    P = (XᵀX + λI)⁻¹,   B = I - P · diag(1/diag(P))   (so B has a zero diagonal),   scores = x·B

X is the binary users x items matrix, x a user's history. Two exact ways to compute it, chosen by
the shape of X because their costs differ by orders of magnitude:

* items side ("gram"): form the items x items Gram matrix once, then invert it by Cholesky for
  each λ. Cost ~ items³ per λ, memory ~ 2·items² floats. Right when users outnumber items.
* users side ("spectral"): eigendecompose the users x users Gram XXᵀ = U·diag(s)·Uᵀ once and keep
  Y = UᵀX. With w = 1/(s + λ), the Woodbury identity gives, for any history x,
      λ·x·P = x - (x·Yᵀ)·diag(w)·Y        and        λ·diag(P)_j = 1 - Σ_k w_k·Y_kj²,
  so for every item j that x does not hold, score_j = ((x·Yᵀ)·diag(w)·Y)_j / (λ·diag(P)_j):
  B without ever forming an items x items matrix. Cost ~ users³ once plus users·items per λ, so
  trying several λ is almost free. Right when items outnumber users (MovieLens/HetRec shapes).

Everything is float32: ranking needs no more precision, and float32 halves memory and time.
"""

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.linalg import blas, lapack
from threadpoolctl import threadpool_limits

from recflow.personalize_local import costs

# Dense blocks of X when building Gram matrices: dense BLAS (multi-threaded) is far faster than
# scipy's single-threaded sparse products at MovieLens-like densities, and blocks bound the memory.
_DENSE_BLOCK_CELLS = 8_000_000
_SYMMETRISE_BLOCK = 1024
_DENSE_HISTORY_SHARE = 0.01


@dataclass(frozen=True)
class SpectralEase:
    """EASE for one λ from the users-side decomposition; `scores` works for any item histories."""

    y_t: np.ndarray  # items x r: XᵀU, stored transposed so both products below run without copies
    weights: np.ndarray  # r: 1/(s + λ)
    inverse_diagonal: np.ndarray  # items: 1/(λ·diag(P))

    proportional = False  # raw weights, not counts: softmax-normalised (ranking.py)

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        return self.scores_of_projection(self.projection(history))

    def projection(self, history: sp.csr_matrix) -> np.ndarray:
        """x·Yᵀ for each history x: the same for every λ, so a λ search computes it once."""
        return _product(history, self.y_t)

    def scores_of_projection(self, projection: np.ndarray) -> np.ndarray:
        scores: np.ndarray = ((projection * self.weights) @ self.y_t.T) * self.inverse_diagonal
        return scores


@dataclass(frozen=True)
class GramEase:
    """EASE for one λ with the items x items weight matrix B materialised."""

    b: np.ndarray  # items x items, zero diagonal

    proportional = False

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        return _product(history, self.b)


class SpectralBasis:
    """The λ-independent part of users-side EASE."""

    def __init__(self, x: sp.csr_matrix) -> None:
        columns = x.tocsc()
        gram = _gram((block for _, block in _column_blocks(columns)), x.shape[0], items_side=False)
        with _one_blas_thread():
            eigenvalues, vectors = scipy.linalg.eigh(gram, overwrite_a=True, check_finite=False, driver="evd")
        del gram
        # XXᵀ is positive semi-definite: negative eigenvalues are rounding noise, and directions with
        # s ≈ 0 carry nothing (Y's rows vanish there), so dropping them changes no score.
        keep = eigenvalues > eigenvalues.max(initial=0.0) * 1e-6
        self.eigenvalues = eigenvalues[keep].astype(np.float32)
        kept_vectors = np.ascontiguousarray(vectors[:, keep])
        del vectors
        self.y_t = np.empty((x.shape[1], len(self.eigenvalues)), dtype=np.float32)
        for start, block in _column_blocks(columns):
            self.y_t[start : start + block.shape[1]] = block.T @ kept_vectors
        self._y_t_squared: np.ndarray | None = None  # for diag(P); made on the first model()

    def model(self, penalty: float) -> SpectralEase:
        if self._y_t_squared is None:
            self._y_t_squared = np.square(self.y_t)
        weights = 1.0 / (self.eigenvalues + np.float32(penalty))
        scaled_diagonal = 1.0 - self._y_t_squared @ weights  # λ·diag(P), in (0, 1]
        return SpectralEase(self.y_t, weights, 1.0 / np.maximum(scaled_diagonal, 1e-6))


class GramBasis:
    """The λ-independent part of items-side EASE: the items x items Gram matrix XᵀX."""

    def __init__(self, x: sp.csr_matrix) -> None:
        users, items = x.shape
        pair_work = float(np.square(np.diff(x.indptr).astype(np.float64)).sum())
        if pair_work / costs.SPARSE_GRAM_PAIRS < users * items**2 / costs.DENSE_GRAM_CELLS:
            # Sparse data (about 1% dense and less): the sparse product does a fraction of the work.
            self.gram = np.asfortranarray((x.T @ x).toarray(), dtype=np.float32)
        else:
            self.gram = _gram(_row_blocks(x), items, items_side=True)

    def model(self, penalty: float) -> GramEase:
        matrix = self.gram.copy(order="F")
        matrix[np.diag_indices_from(matrix)] += np.float32(penalty)
        # Cholesky-based inverse, in place: about 3x faster than a general inverse, exact for this
        # symmetric positive definite matrix. LAPACK writes the upper triangle only.
        with _one_blas_thread():
            matrix, info = lapack.spotrf(matrix, lower=0, overwrite_a=1, clean=0)
            if info == 0:
                matrix, info = lapack.spotri(matrix, lower=0, overwrite_c=1)
        if info != 0:
            raise ValueError(f"EASE could not invert its Gram matrix (LAPACK info {info}).")
        _fill_lower(matrix)
        b = matrix.T  # C-ordered view of the same (symmetric) memory: no copy
        b /= -np.diag(b).copy()
        np.fill_diagonal(b, 0.0)
        return GramEase(b)


def _one_blas_thread() -> AbstractContextManager[object]:
    """For LAPACK factorisations (eigh, Cholesky inverse): long chains of small steps, where OpenBLAS
    threads spin-wait between steps. Measured on 2 cores: with one other busy process, 2 threads
    made a 5,000 Cholesky inverse 6x slower (7-10 s vs 1.2-1.7 s) and a 2,100 eigh 30x slower;
    on an idle machine they gained only ~1.6x. Matrix products keep every thread."""
    limits: AbstractContextManager[object] = threadpool_limits(1, "blas")
    return limits


def _product(history: sp.csr_matrix, dense: np.ndarray) -> np.ndarray:
    """history @ dense. Above ~1% density a dense copy of the history block and one BLAS call beat
    scipy's single-threaded sparse product, despite doing ~100x the arithmetic."""
    if history.nnz > _DENSE_HISTORY_SHARE * history.shape[0] * history.shape[1]:
        product: np.ndarray = history.toarray() @ dense
        return product
    return np.asarray(history @ dense, dtype=np.float32)


def _gram(blocks: Iterator[np.ndarray], size: int, items_side: bool) -> np.ndarray:
    """Σ AᵀA (items side) or Σ AAᵀ (users side) over dense blocks A, as a full symmetric matrix."""
    gram = np.zeros((size, size), dtype=np.float32, order="F")
    for block in blocks:
        gram = blas.ssyrk(1.0, block, beta=1.0, c=gram, trans=int(items_side), lower=0, overwrite_c=1)
    _fill_lower(gram)
    return gram


def _fill_lower(matrix: np.ndarray) -> None:
    """Copy the upper triangle onto the lower one in place, block by block (no n² temporaries)."""
    size = matrix.shape[0]
    for start in range(0, size, _SYMMETRISE_BLOCK):
        stop = min(start + _SYMMETRISE_BLOCK, size)
        diagonal = matrix[start:stop, start:stop]
        diagonal[...] = np.triu(diagonal) + np.triu(diagonal, 1).T
        matrix[stop:, start:stop] = matrix[start:stop, stop:].T


def _row_blocks(x: sp.csr_matrix) -> Iterator[np.ndarray]:
    step = max(1, _DENSE_BLOCK_CELLS // max(x.shape[1], 1))
    for start in range(0, x.shape[0], step):
        yield x[start : start + step].toarray(order="F")


def _column_blocks(columns: sp.csc_matrix) -> Iterator[tuple[int, np.ndarray]]:
    step = max(1, _DENSE_BLOCK_CELLS // max(columns.shape[0], 1))
    for start in range(0, columns.shape[1], step):
        yield start, columns[:, start : start + step].toarray(order="F")
