"""The simpler local algorithms: popularity, item-to-item cosine (item-kNN) and implicit-feedback ALS.

Every model answers `scores(history)`: raw scores (rows x items, float32, higher is better) for
rows of item histories. For user recipes a row is a user's interactions; for related-items recipes
it is the one query item. Taking histories rather than user numbers lets the same fitted model score
users it was not trained on, which is how Personalize computes its offline metrics.
"""

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recflow.progress import NO_PROGRESS, Progress


@dataclass(frozen=True)
class Popularity:
    """Items ranked by how many users interacted with them; the same list for everyone."""

    counts: np.ndarray  # items, float32

    proportional = True  # scores are counts: normalise by their sum, not by a softmax

    @classmethod
    def fit(cls, x: sp.csr_matrix) -> "Popularity":
        return cls(np.asarray(x.sum(axis=0), dtype=np.float32).ravel())

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        return np.tile(self.counts, (history.shape[0], 1))


@dataclass(frozen=True)
class ItemKnn:
    """Cosine similarity between items' user sets: sim(i, j) = |Uᵢ ∩ Uⱼ| / √(|Uᵢ|·|Uⱼ|).

    A history scores each item by the sum of its similarities to the history's items, so one query
    item gives exactly its similar items. Similarities are computed per block of queries from X, so
    no items x items matrix is ever stored.
    """

    x: sp.csr_matrix  # users x items, binary
    x_t: sp.csr_matrix  # items x users
    inverse_norms: np.ndarray  # items: 1/√|Uⱼ| (0 for items without users)
    popularity: np.ndarray  # items, in [0, 1): breaks ties among equally similar items

    proportional = False

    # Small enough to reorder only (near-)ties, such as the many items with similarity 0, which then
    # come most popular first instead of in id order.
    _TIE_BREAK = 1e-6
    _DENSE_SHARE = 0.05
    _DENSE_MAX_CELLS = 8_000_000  # 32 MB of float32

    @classmethod
    def fit(cls, x: sp.csr_matrix) -> "ItemKnn":
        counts = np.asarray(x.sum(axis=0)).ravel()
        inverse_norms = np.divide(1.0, np.sqrt(counts), out=np.zeros(len(counts)), where=counts > 0)
        popularity = counts / (counts.max(initial=0.0) + 1.0)
        x = x.astype(np.float32)
        return cls(x, x.T.tocsr(), inverse_norms.astype(np.float32), popularity.astype(np.float32))

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        weighted = history.astype(np.float32) @ sp.diags(self.inverse_norms)
        co_users = weighted @ self.x_t  # rows x users
        cells = co_users.shape[0] * co_users.shape[1]
        if co_users.nnz > self._DENSE_SHARE * cells and cells <= self._DENSE_MAX_CELLS:
            # Long histories touch most users: a dense block times sparse X is much faster than a
            # sparse product with a dense result.
            similarity = (self.x_t @ co_users.toarray().T).T
        else:
            similarity = (co_users @ self.x).toarray()
        similarity = np.asarray(similarity, dtype=np.float32)
        scores: np.ndarray = similarity * self.inverse_norms + self._TIE_BREAK * self.popularity
        return scores


class FactorModel(Protocol):
    """What scoring uses of implicit's AlternatingLeastSquares (the package ships no type hints)."""

    item_factors: np.ndarray

    def recalculate_user(self, userid: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray: ...


@dataclass(frozen=True)
class Als:
    """Implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008) from the `implicit` package.

    Scoring recomputes each history's user factors against the fixed item factors (one exact
    least-squares step), so users outside the training data are scored the same way.
    """

    model: FactorModel  # implicit.cpu.als.AlternatingLeastSquares

    proportional = False

    # Tuned on MovieLens (bench/recommender_bench.py): NDCG@25 varied only 0.083-0.099 over
    # 32-256 factors, regularisation 0.05-100 and alpha 1-10; 64 factors keep fitting cheap. With
    # recency-weighted scoring, 10 iterations scored as 15 did (NDCG@25 MovieLens 0.122 vs 0.121,
    # Last.fm 0.058 vs 0.059; 32 factors lost 6-7%) in two thirds of the time.
    FACTORS = 64
    ITERATIONS = 10
    REGULARIZATION = 1.0
    ALPHA = 2.0

    @classmethod
    def fit(cls, x: sp.csr_matrix, seed: int, progress: Progress = NO_PROGRESS) -> "Als":
        from implicit.cpu.als import AlternatingLeastSquares

        # implicit runs its own threads; OpenBLAS threads inside them only oversubscribe the cores.
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=cls.FACTORS,
                regularization=cls.REGULARIZATION,
                alpha=cls.ALPHA,
                iterations=cls.ITERATIONS,
                random_state=seed,
                dtype=np.float32,
            )
            with progress.step("ALS iterations", total=cls.ITERATIONS) as advance:
                # implicit calls back after each iteration with (iteration, seconds, loss).
                model.fit(x.astype(np.float32), show_progress=False, callback=lambda *_: advance(1))
        return cls(model)

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        with threadpool_limits(1, "blas"):
            users = self.model.recalculate_user(np.arange(history.shape[0]), history.astype(np.float32))
        return np.asarray(users @ self.model.item_factors.T, dtype=np.float32)
