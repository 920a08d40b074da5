"""Offline metrics under Amazon Personalize's names and definitions, and the holdout that feeds them.

Personalize's documented protocol (GetSolutionMetrics): 10% of the users form the testing set; the
model is trained on the other users; each testing user's oldest 90% of interactions are the model's
input and the newest 10% are what it should recommend ("relevant"). Metrics are averages over the
testing users: precision@K divides by K, NDCG weights position p by 1/log(1 + p) and normalises by
the ideal ordering of the user's relevant items, MRR@25 is 1/rank of the first relevant item (0 if
none is in the top 25), coverage is the share of the catalogue that appears in any top-25 list.
"""

import math

import numpy as np
import scipy.sparse as sp

TOP_K = 25
HOLDOUT_FRACTION = 0.1
METRIC_NAMES = (
    "coverage",
    "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5",
    "precision_at_10",
    "precision_at_25",
)


def newer_counts(user_codes: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """For each interaction, how many of the same user's interactions are newer (0 = the newest).

    Equal timestamps are ordered by row, later rows counting as newer, so the order is the same on
    every run.
    """
    rows = len(user_codes)
    order = np.lexsort((np.arange(rows), timestamps, user_codes))
    ends = np.cumsum(np.bincount(user_codes))  # one past each user's newest position in `order`
    newer = np.empty(rows, dtype=np.int64)
    newer[order] = ends[user_codes[order]] - 1 - np.arange(rows)
    return newer


def held_counts(user_codes: np.ndarray, selected: np.ndarray, fraction: float = HOLDOUT_FRACTION) -> np.ndarray:
    """Per user code, how many newest interactions are held out: ceil(fraction * n) for selected users
    with n >= 2, else 0 (at least one interaction of every user stays its input)."""
    counts = np.bincount(user_codes, minlength=len(selected))
    held: np.ndarray = np.ceil(fraction * counts).astype(np.int64)
    held[(counts < 2) | ~selected] = 0
    return held


def newest_interactions(
    user_codes: np.ndarray, timestamps: np.ndarray, selected: np.ndarray, fraction: float = HOLDOUT_FRACTION
) -> np.ndarray:
    """Mask of the newest ceil(fraction * n) interactions of every selected user with n >= 2
    (ties ordered as newer_counts orders them); `selected` is a boolean array indexed by user code."""
    mask: np.ndarray = newer_counts(user_codes, timestamps) < held_counts(user_codes, selected, fraction)[user_codes]
    return mask


def hit_matrix(recommended: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """hits[q, r] is True when the r-th recommendation of query q is one of q's relevant items.

    `recommended` holds item codes, -1 where a list is shorter than the others.
    """
    queries, depth = recommended.shape
    rows = np.repeat(np.arange(queries), depth)
    cols = recommended.ravel()
    valid = cols >= 0
    hits = np.zeros(queries * depth, dtype=bool)
    hits[valid] = np.asarray(relevant[rows[valid], cols[valid]]).ravel() != 0
    return hits.reshape(queries, depth)


def precision_at(hits: np.ndarray, k: int) -> np.ndarray:
    precision: np.ndarray = hits[:, :k].sum(axis=1) / k
    return precision


def recall_at(hits: np.ndarray, relevant_counts: np.ndarray, k: int) -> np.ndarray:
    recall: np.ndarray = hits[:, :k].sum(axis=1) / relevant_counts
    return recall


def ndcg_at(hits: np.ndarray, relevant_counts: np.ndarray, k: int) -> np.ndarray:
    discounts = 1.0 / np.log2(np.arange(2, k + 2))  # 1/log(1 + position); the base cancels out
    gains = (hits[:, :k] * discounts[: hits[:, :k].shape[1]]).sum(axis=1)
    ideal = np.cumsum(discounts)[np.minimum(relevant_counts, k) - 1]
    ndcg: np.ndarray = gains / ideal
    return ndcg


def reciprocal_rank_at(hits: np.ndarray, k: int) -> np.ndarray:
    top = hits[:, :k]
    first = top.argmax(axis=1)
    return np.where(top.any(axis=1), 1.0 / (first + 1), 0.0)


def coverage(recommended: np.ndarray, catalogue_size: int) -> float:
    top = recommended[:, :TOP_K]
    return len(np.unique(top[top >= 0])) / catalogue_size


def personalize_metrics(recommended: np.ndarray, relevant: sp.csr_matrix, catalogue_size: int) -> dict[str, float]:
    """The GetSolutionMetrics figures for top-25 lists `recommended` (queries x 25, item codes).

    `relevant` has one row per query (the held-out items); every query needs at least one.
    """
    relevant_counts = np.diff(relevant.indptr)
    if len(relevant_counts) == 0 or relevant_counts.min() == 0:
        raise ValueError("every testing user needs at least one held-out interaction")
    hits = hit_matrix(recommended, relevant)
    values = {
        "coverage": coverage(recommended, catalogue_size),
        "mean_reciprocal_rank_at_25": reciprocal_rank_at(hits, TOP_K).mean(),
    }
    for k in (5, 10, 25):
        values[f"normalized_discounted_cumulative_gain_at_{k}"] = ndcg_at(hits, relevant_counts, k).mean()
    for k in (5, 10, 25):
        values[f"precision_at_{k}"] = precision_at(hits, k).mean()
    # Personalize reports four decimals; rounding also hides last-bit differences between BLAS builds.
    return {name: round(float(values[name]), 4) for name in METRIC_NAMES}


def testing_share(eligible_users: int, fraction: float = HOLDOUT_FRACTION) -> int:
    """How many users form a testing (or validation) set: 10% of those who can, at least one."""
    return max(1, math.floor(fraction * eligible_users + 0.5))
