"""Turning a block of raw scores into top-k lists and Personalize-style scores.

Personalize's user-personalization scores form a distribution over the catalogue: they sum to 1, so
even the best items get small numbers. The local models' raw scores (EASE weights, ALS dot products,
cosine sums) have arbitrary scales, so each row is standardised and passed through a softmax over
the items the user could be recommended; count-based models (popularity) divide counts by their sum.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

# Cells of a users x items score block (float32) computed at a time: 16 MB, so memory stays bounded
# whatever the number of users, and each block is still large enough for BLAS to run at full speed.
BLOCK_CELLS = 4_000_000

# Softmax temperature in units of the row's standard deviation. With 3, on MovieLens (9.7k items)
# EASE's top item gets a median 2% (0.4-22% for 80% of users) and the top 25 together ~9%: small
# numbers, like Personalize's. (At 1 the top item took a median 70%.)
SOFTMAX_TEMPERATURE = 3.0


def block_rows(items: int) -> int:
    return max(1, BLOCK_CELLS // max(items, 1))


def empty_rows(rows: int, columns: int) -> sp.csr_matrix:
    """A rows x columns CSR matrix with no entries (float32)."""
    return sp.csr_matrix(
        (np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int32), np.zeros(rows + 1, dtype=np.int32)),
        shape=(rows, columns),
    )


def exclude(scores: np.ndarray, excluded: sp.csr_matrix) -> None:
    """Set the excluded (row, item) cells to -inf in place, so they are never ranked."""
    rows = np.repeat(np.arange(excluded.shape[0]), np.diff(excluded.indptr))
    scores[rows, excluded.indices] = -np.inf


@dataclass(frozen=True)
class ItemMask:
    """Which catalogue items each row of a score block may be recommended: a filter, evaluated.

    `include=False` (EXCLUDE): the cells of `items` may not be recommended, everything else may.
    `include=True` (INCLUDE): only the cells of `items` may be recommended.
    `items` is rows x catalogue (the model's sorted item ids), binary.
    """

    include: bool
    items: sp.csr_matrix

    def rows(self, positions: np.ndarray) -> "ItemMask":
        return ItemMask(self.include, self.items[positions])

    def apply(self, scores: np.ndarray) -> None:
        """Set the cells this mask rules out to -inf in place (rows of `scores` = rows of the mask)."""
        if not self.include:
            exclude(scores, self.items)
            return
        allowed = self.items.toarray() > 0
        scores[~allowed] = -np.inf


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Item codes and scores of each row's k best items, best first; -1 where fewer are rankable.

    Ties go to the lower item code, also at the k-th place, so a list is a prefix of the same row's
    longer lists and removing items (a filter) never brings back a different tied item.
    """
    rows, items = scores.shape
    k = min(k, items)
    if k < items:
        candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        candidates = np.broadcast_to(np.arange(items), (rows, items))
    values = np.take_along_axis(scores, candidates, axis=1)
    order = np.lexsort((candidates, -values), axis=1)
    codes = np.take_along_axis(candidates, order, axis=1)
    values = np.take_along_axis(values, order, axis=1)
    if k < items:
        # argpartition picks arbitrarily among items tied with the k-th: redo the rows where the tie
        # reaches past k, keeping the lowest codes.
        kth = values[:, -1:]
        spill = np.flatnonzero(np.isfinite(kth[:, 0]) & ((scores >= kth).sum(axis=1) > k))
        for row in spill:
            row_scores = scores[row]
            tied = np.flatnonzero(row_scores >= kth[row, 0])
            best = tied[np.lexsort((tied, -row_scores[tied]))][:k]
            codes[row], values[row] = best, row_scores[best]
    codes = np.where(np.isneginf(values), -1, codes)
    return codes, values


def softmax_scores(scores: np.ndarray, top_values: np.ndarray) -> np.ndarray:
    """Softmax probabilities of `top_values`, normalised over every rankable item of the row.

    `scores` is the full row block with excluded cells at -inf (exp(-inf) = 0 drops them from the
    sum); the temperature is the standard deviation of the row's rankable scores, so the result
    does not depend on the model's scale. Row sums are float32 (numpy sums each row pairwise, the same
    way whatever the block): a block is read six times, where float64 sums and temporaries took 4 s of
    a 70k-user batch job.
    """
    rankable = np.isfinite(scores)
    counts = np.maximum(rankable.view(np.uint8).sum(axis=1, keepdims=True, dtype=np.int32), 1)
    filled = np.where(rankable, scores, np.float32(0.0))
    mean = filled.sum(axis=1, keepdims=True) / counts
    mean_square = np.einsum("ij,ij->i", filled, filled)[:, None] / counts
    del filled
    spread = np.sqrt(np.maximum(mean_square - mean * mean, 0.0))
    temperature = SOFTMAX_TEMPERATURE * np.where(spread > 0, spread, 1.0)
    peak = scores.max(axis=1, keepdims=True)
    # A row with nothing rankable (a user who has seen every item) yields NaNs; its list is empty.
    with np.errstate(invalid="ignore"):
        exponent = scores - peak
        exponent *= (1.0 / temperature).astype(np.float32)
        total = np.exp(exponent, out=exponent).sum(axis=1, keepdims=True)
        probabilities: np.ndarray = np.exp((top_values.astype(np.float64) - peak) / temperature) / total
        return probabilities


def significant(values: np.ndarray, digits: int = 7) -> np.ndarray:
    """`values` (> 0) rounded to `digits` significant digits, as float64: Personalize's scores have seven.
    Values below 1e-300 (a softmax term that underflowed) become 1e-300, so a score is never 0."""
    values = np.maximum(np.asarray(values, dtype=np.float64), 1e-300)
    with np.errstate(invalid="ignore"):  # NaN (a row with nothing rankable) stays NaN
        scale = 10.0 ** (digits - 1 - np.floor(np.log10(values)))
        rounded: np.ndarray = np.rint(values * scale) / scale
        # Powers of ten are exact doubles up to 1e22 only: smaller values are formatted one by one.
        small = scale > 1e22
    rounded[small] = [float(f"{value:.{digits}g}") for value in values[small]]
    return rounded


def proportional_scores(scores: np.ndarray, top_values: np.ndarray) -> np.ndarray:
    """Each top value divided by the sum over the row's rankable items (scores are counts >= 0)."""
    total = np.where(np.isfinite(scores), scores, 0.0).sum(axis=1, keepdims=True, dtype=np.float64)
    shares: np.ndarray = top_values.astype(np.float64) / np.where(total > 0, total, 1.0)
    return shares
