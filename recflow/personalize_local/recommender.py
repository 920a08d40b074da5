"""The local Personalize recommender: recipes mapped to algorithms, training with Personalize's
offline metrics, and vectorised top-k recommendations.

Recipes (a name or `arn:aws:personalize:::recipe/<name>`):

* `aws-user-personalization`, `aws-user-personalization-v2`, and `aws-personalized-ranking(-v2)` (the
  same model, asked to order a given list): EASE (ease.py), solved on the cheaper side, while its
  estimated cost (costs.py: training plus scoring every user once) fits TIME_BUDGET_SECONDS and its
  working set fits in half of the available memory; implicit-feedback ALS otherwise. The decision and
  the estimates behind it are the model's `decision`. These return scores, as in Personalize.
* `aws-popularity-count`: the most interacted-with items, the same for every user; no scores.
* `aws-similar-items`, `aws-sims`: item-to-item cosine similarity; batch input is `{"itemId": …}`; no
  scores.

Training follows Personalize's documented protocol (metrics.py): a seeded 10% of the users (those
with 2+ distinct items) is the testing set, the model is fitted on the other users, and the testing
users' oldest 90% are its input while their newest 10% are scored. EASE's λ and the recency weight
τ are chosen on the newest 10% of the other users (validation; at most MAX_VALIDATION_USERS of them),
held out of that same fit, before the testing users are looked at. The served model is then fitted
on all the data with that λ. The same seed gives the same model and metrics.

Recency: user-personalization models score a user's history with each item weighted by how recent
it is, exp(-k/τ) where k counts the user's interactions newer than their newest one with the item
(ties in time go by row order). What a user did last predicts what they do next better than what
they did years ago; τ (RECENCY_GRID, "none" = every item weighs 1) is chosen on validation, so data
without that pattern keeps plain weights. Fitting uses the plain 0/1 history.

Like Personalize, recommendations may contain items the user already interacted with: only a filter
(filters.py, applied as a ranking.ItemMask) removes them. Related items never include the query item.
Unknown users or items get the most popular items, as Personalize does for cold users.
"""

import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recflow.personalize_local import costs
from recflow.personalize_local import metrics as offline
from recflow.personalize_local.algorithms import Als, ItemKnn, Popularity
from recflow.personalize_local.codes import factorize
from recflow.personalize_local.ease import GramBasis, GramEase, SpectralBasis, SpectralEase
from recflow.personalize_local.filters import user_rows
from recflow.personalize_local.ranking import (
    SOFTMAX_TEMPERATURE,
    ItemMask,
    block_rows,
    empty_rows,
    exclude,
    proportional_scores,
    significant,
    softmax_scores,
    top_k,
)
from recflow.personalize_local.score_rows import ScoreRows
from recflow.progress import NO_PROGRESS, Advance, Progress

RECIPE_ARN_PREFIX = "arn:aws:personalize:::recipe/"
USER_PERSONALIZATION = frozenset({"aws-user-personalization", "aws-user-personalization-v2"})
PERSONALIZED_RANKING = frozenset({"aws-personalized-ranking", "aws-personalized-ranking-v2"})
POPULARITY = frozenset({"aws-popularity-count"})
RELATED_ITEMS = frozenset({"aws-similar-items", "aws-sims"})

# EASE while its estimated training plus scoring every user once (costs.py) takes at most this long;
# ALS beyond. An offline rehearsal of a 10M-interaction lake should take about two minutes in all.
TIME_BUDGET_SECONDS = 60.0
# EASE also yields to ALS when its working set would exceed this share of the available memory.
EASE_MEMORY_SHARE = 0.5
# λ candidates, a factor of 2 apart, and where the search for the best one starts.
PENALTY_GRID = tuple(2.0**power for power in range(3, 15))  # 8 ... 16384
PENALTY_START = 256.0
# Users whose newest 10% choose λ and τ (see _Holdout).
MAX_VALIDATION_USERS = 1_000
# Recency weights τ, from none (every item weighs 1) to the strongest decay; see the module docstring.
RECENCY_GRID: tuple[float | None, ...] = (None, 80.0, 40.0, 20.0, 10.0, 5.0, 2.5)
# Blocks of users scored at once in recommend(): one per core.
PARALLEL_BLOCKS = max(1, min(os.cpu_count() or 1, 4))
# The least weight an item keeps: exp(-k/τ) underflows for long histories, and a zero would read as
# "no interaction" to ALS.
MIN_RECENCY_WEIGHT = 1e-6
TRAINING_STAGES = 3  # what training reports: the held-out fit, its testing metrics, the served fit


class Scorer(Protocol):
    proportional: bool

    def scores(self, history: sp.csr_matrix) -> np.ndarray: ...


@dataclass(frozen=True)
class Recommendation:
    """One answer: item ids, best first, and their scores (None for recipes without scores:
    popularity-count and related items)."""

    items: list[str]
    scores: list[float] | None


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A trained solution version: what GetSolutionMetrics, batch inference and the runtime API need."""

    recipe: str
    algorithm: str  # "ease", "als", "popularity" or "item-knn"
    metrics: dict[str, float]
    penalty: float | None  # EASE's λ, None for the other algorithms
    recency: float | None  # τ of the recency weights, None when histories are scored unweighted
    decision: str  # why this algorithm (and EASE solve): the cost estimates it was chosen on
    query_key: str  # the batch input field: "userId" or "itemId"
    user_ids: np.ndarray  # sorted
    item_ids: np.ndarray  # sorted
    history: sp.csr_matrix  # users x items, binary: the interactions trained on
    profiles: sp.csr_matrix  # users x items: the history as the scorer reads it (recency-weighted)
    scorer: Scorer
    popularity: Popularity

    @property
    def returns_scores(self) -> bool:
        """Personalize returns scores only for user-personalization and personalized-ranking recipes."""
        return recipe_name(self.recipe) in USER_PERSONALIZATION | PERSONALIZED_RANKING

    @property
    def ranks_lists(self) -> bool:
        """A personalized-ranking recipe: batch input lines carry the `itemList` to order."""
        return recipe_name(self.recipe) in PERSONALIZED_RANKING

    def recommend(
        self,
        keys: Sequence[str],
        num_results: int,
        advance: Advance = lambda _: None,
        *,
        mask: ItemMask | None = None,
    ) -> list[Recommendation]:
        """Top `num_results` items per key (a user id, or an item id for related items), best first.

        `mask` (one row per key) rules items out, as a filter does; without it seen items may be
        recommended. Scores, where the recipe has them, are descending, in (0, 1] and normalised over the
        items the row may be recommended. Keys the model has not seen get the most popular items.
        `advance` counts the keys answered, a block at a time.
        """
        if num_results < 1:
            raise ValueError(f"num_results must be at least 1, not {num_results}")
        known_ids = self.item_ids if self.query_key == "itemId" else self.user_ids
        codes = _lookup(known_ids, np.asarray(keys, dtype=str))
        results: list[Recommendation | None] = [None] * len(codes)
        step = block_rows(len(self.item_ids))
        known, cold = np.flatnonzero(codes >= 0), np.flatnonzero(codes < 0)

        def ranked(positions: np.ndarray) -> list[Recommendation]:
            rows = mask.rows(positions) if mask is not None else None
            return self._rank(self._histories(codes[positions]), self.scorer, num_results, rows)

        blocks = [known[start : start + step] for start in range(0, len(known), step)]
        for positions, lists in zip(blocks, _in_parallel(ranked, blocks), strict=True):
            for position, result in zip(positions, lists, strict=True):
                results[position] = result
            advance(len(positions))
        # Cold keys share one popularity list unless a mask makes each row its own.
        cold_step = step if mask is not None else max(len(cold), 1)
        for start in range(0, len(cold), cold_step):
            positions = cold[start : start + cold_step]
            rows = mask.rows(positions) if mask is not None else None
            count = len(positions) if mask is not None else 1
            no_history = empty_rows(count, len(self.item_ids))
            lists = self._rank(no_history, self.popularity, num_results, rows)
            for index, position in enumerate(positions):
                results[position] = lists[index if mask is not None else 0]
            advance(len(positions))
        return [result for result in results if result is not None]  # every key was filled above

    def seen(self, keys: Sequence[str]) -> ItemMask:
        """An EXCLUDE mask of the items each user key interacted with in the training data: what the
        filter `EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")` removes while no import came after
        training (and no user has over 100 interactions of one event type)."""
        return ItemMask(include=False, items=user_rows(self.user_ids, self.history, keys))

    def rank(self, user_id: str, item_ids: Sequence[str], mask: ItemMask | None = None) -> Recommendation:
        """GetPersonalizedRanking: `item_ids` ordered for the user, best first (repeats kept once).

        Scores use the same function as `recommend`, normalised over the input items only, so they sum to
        1 over the items the model knows; items absent from training come last, in the order given, with
        score 0 (as Personalize documents). `mask` (one row) drops the items a filter rules out.
        Unknown users are ranked by popularity.
        """
        (code,) = _lookup(self.user_ids, np.asarray([user_id], dtype=str))
        history = self.profiles[[code]] if code >= 0 else empty_rows(1, len(self.item_ids))
        scorer = self.scorer if code >= 0 else self.popularity
        scores = scorer.scores(history)
        if mask is not None:
            mask.apply(scores)
        candidates = list(dict.fromkeys(item_ids))
        columns = _lookup(self.item_ids, np.asarray(candidates, dtype=str))
        row = scores[0]
        # Ties go to the lower item code, as in `recommend` (top_k), so both give the same order.
        known = [(float(row[column]), index) for index, column in enumerate(columns) if column >= 0]
        known = [(value, index) for value, index in known if np.isfinite(value)]
        known.sort(key=lambda pair: (-pair[0], columns[pair[1]]))
        unknown = [candidates[index] for index, column in enumerate(columns) if column < 0]
        values = np.array([value for value, _ in known], dtype=np.float64)
        if scorer.proportional:
            total = values.sum()
            shares = values / total if total > 0 else np.zeros(len(values))
        else:
            rankable = row[np.isfinite(row)].astype(np.float64)
            spread = float(rankable.std()) if len(rankable) else 0.0
            exponent = (values - (values.max() if len(values) else 0.0)) / (SOFTMAX_TEMPERATURE * (spread or 1.0))
            weights = np.exp(exponent)
            shares = weights / weights.sum() if len(weights) else weights
        ranked = [candidates[index] for _, index in known] + unknown
        scores_out = significant(shares).tolist() + [0.0] * len(unknown)
        return Recommendation(ranked, scores_out)

    def _histories(self, codes: np.ndarray) -> sp.csr_matrix:
        if self.query_key == "itemId":
            ones = np.ones(len(codes), dtype=np.float32)
            return sp.csr_matrix((ones, (np.arange(len(codes)), codes)), shape=(len(codes), len(self.item_ids)))
        return self.profiles[codes]

    def _rank(self, history: sp.csr_matrix, scorer: Scorer, k: int, mask: ItemMask | None) -> list[Recommendation]:
        scores = scorer.scores(history)
        if self.query_key == "itemId":
            exclude(scores, history)  # related items never include the query item
        if mask is not None:
            mask.apply(scores)
        codes, values = top_k(scores, k)
        probabilities = None
        if self.returns_scores:
            normalise = proportional_scores if scorer.proportional else softmax_scores
            probabilities = normalise(scores, values)
            probabilities = significant(probabilities)
        results = []
        for row, row_codes in enumerate(codes):
            valid = row_codes >= 0
            items = self.item_ids[row_codes[valid]].tolist()
            results.append(Recommendation(items, None if probabilities is None else probabilities[row][valid].tolist()))
        return results


def _in_parallel(
    rank: Callable[[np.ndarray], list[Recommendation]], blocks: list[np.ndarray]
) -> Iterator[list[Recommendation]]:
    """`rank` of each block, in order; several blocks are ranked on PARALLEL_BLOCKS threads, each with one
    BLAS thread. Scoring a block is numpy and BLAS, which release the GIL, and top-k selection and the
    softmax run on one core otherwise: on 2 cores a 70k-user batch job took ~40% less time."""
    if len(blocks) <= 1:
        yield from map(rank, blocks)
        return
    with threadpool_limits(1, "blas"), ThreadPoolExecutor(PARALLEL_BLOCKS) as pool:
        yield from pool.map(rank, blocks)


def recipe_name(recipe: str) -> str:
    """`aws-sims` for `arn:aws:personalize:::recipe/aws-sims` or `aws-sims`."""
    return recipe.removeprefix(RECIPE_ARN_PREFIX)


@dataclass(frozen=True)
class Choice:
    algorithm: str  # "ease", "als", "popularity" or "item-knn"
    solve: str | None  # for EASE: "ease-items" or "ease-users" (ease.py's two solves)
    decision: str  # one sentence: what was chosen and the estimates it was chosen on


def choose_algorithm(recipe: str, shape: costs.Shape) -> Choice:
    """The recipe's algorithm; for user recipes, the cheaper EASE solve if it fits the time budget and
    memory, else ALS."""
    name = recipe_name(recipe)
    if name in POPULARITY:
        return Choice("popularity", None, f"popularity: the {name} recipe")
    if name in RELATED_ITEMS:
        return Choice("item-knn", None, f"item-knn: the {name} recipe")
    if name not in USER_PERSONALIZATION | PERSONALIZED_RANKING:
        supported = ", ".join(sorted(USER_PERSONALIZATION | PERSONALIZED_RANKING | POPULARITY | RELATED_ITEMS))
        raise ValueError(f"the local Personalize service does not implement the recipe {name}; it supports {supported}")
    memory = EASE_MEMORY_SHARE * available_memory_bytes()
    solves = sorted([costs.ease_items_side(shape), costs.ease_users_side(shape)], key=lambda e: e.seconds)
    fallback = costs.als(shape, Als.FACTORS, Als.ITERATIONS)
    estimates = "; ".join(estimate.describe() for estimate in [*solves, fallback])
    limits = (
        f"{TIME_BUDGET_SECONDS:.0f} s and {memory / 2**20:,.0f} MB"
        if math.isfinite(memory)
        else (f"{TIME_BUDGET_SECONDS:.0f} s")
    )
    for solve in solves:
        if solve.seconds <= TIME_BUDGET_SECONDS and solve.bytes <= memory:
            return Choice("ease", solve.name, f"{solve.name}: the cheaper EASE solve, within {limits} ({estimates})")
    return Choice("als", None, f"als: no EASE solve within {limits} ({estimates})")


def available_memory_bytes() -> float:
    """MemAvailable, or what the cgroup still allows if that is less; infinite when unknown."""
    available = math.inf
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            available = min(available, int(limit) - used)
    except (OSError, ValueError):
        pass
    return available


def train(
    users: np.ndarray,
    items: np.ndarray,
    timestamps: np.ndarray,
    recipe: str,
    seed: int = 0,
    progress: Progress = NO_PROGRESS,
) -> TrainedModel:
    """Fit the recipe's algorithm on (user, item, timestamp) interactions; ValueError if unusable.

    `progress` sees TRAINING_STAGES (held-out fit, testing metrics, served fit), and ALS iterations."""
    data = _Interactions.from_columns(users, items, timestamps)
    split = _Holdout.draw(data, seed)
    choice = choose_algorithm(recipe, data.shape(split.validation.inputs.shape[0]))
    algorithm = choice.algorithm
    with progress.step(f"Training {algorithm} (fit, test, refit)", total=TRAINING_STAGES) as advance:
        penalty, recency = None, None
        held_out_model: Scorer
        if algorithm == "ease":
            basis = _ease_basis(split.training, choice.solve)
            penalty, recency, held_out_model = _choose_scoring(basis, split.validation)
            del basis
        else:
            held_out_model = _fit(algorithm, split.training, penalty, seed, progress)
            if algorithm == "als":
                recency = _best_recency(held_out_model, split.validation)[1]
        advance(1)
        metrics = _testing_metrics(held_out_model, split.testing, len(data.item_ids), recency)
        del held_out_model, split  # free the held-out fit before the full one
        advance(1)
        scorer = _fit(algorithm, data.matrix, penalty, seed, progress, choice.solve)
        advance(1)
    profiles = _weighted(data.recency, recency)
    return TrainedModel(
        recipe=recipe,
        algorithm=algorithm,
        metrics=metrics,
        penalty=penalty,
        recency=recency,
        decision=choice.decision,
        query_key="itemId" if algorithm == "item-knn" else "userId",
        user_ids=data.user_ids,
        item_ids=data.item_ids,
        history=data.matrix,
        profiles=profiles,
        # Stored rows (score_rows.py): a user's scores are the same in batch output and real-time answers.
        scorer=ScoreRows.of(scorer, profiles) if algorithm in ("ease", "als") else scorer,
        popularity=Popularity.fit(data.matrix),
    )


@dataclass(frozen=True)
class _Interactions:
    user_ids: np.ndarray
    item_ids: np.ndarray
    user_codes: np.ndarray
    item_codes: np.ndarray
    newer: np.ndarray  # per interaction: how many of the user's interactions are newer (metrics.newer_counts)
    recency: sp.csr_matrix  # users x items: recency ranks (_recency_matrix)
    matrix: sp.csr_matrix  # users x items, 1 where the user interacted with the item

    @classmethod
    def from_columns(cls, users: np.ndarray, items: np.ndarray, timestamps: np.ndarray) -> "_Interactions":
        if not len(users) == len(items) == len(timestamps):
            raise ValueError(
                f"users, items and timestamps must have one value per interaction, not "
                f"{len(users)}, {len(items)} and {len(timestamps)}"
            )
        user_ids, user_codes = factorize(np.asarray(users, dtype=str))
        item_ids, item_codes = factorize(np.asarray(items, dtype=str))
        newer = offline.newer_counts(user_codes, np.asarray(timestamps))
        recency = _recency_matrix(user_codes, item_codes, newer, (len(user_ids), len(item_ids)))
        matrix = _ones(recency)
        if len(user_ids) < 2 or np.diff(matrix.indptr).max() < 2:
            raise ValueError("training needs at least 2 users, one of them with 2 or more distinct items")
        return cls(user_ids, item_ids, user_codes, item_codes, newer, recency, matrix)

    def shape(self, validation_users: int) -> costs.Shape:
        counts = np.diff(self.matrix.indptr).astype(np.float64)
        return costs.Shape(
            users=len(self.user_ids),
            items=len(self.item_ids),
            nonzeros=self.matrix.nnz,
            pair_work=float(np.square(counts).sum()),
            validation_users=validation_users,
        )


@dataclass(frozen=True)
class _Queries:
    """Held-out users to score: their input histories and the items they went on to use."""

    inputs: sp.csr_matrix  # users x items: the oldest 90%, as recency ranks (_recency_matrix)
    relevant: sp.csr_matrix  # users x items: the newest 10%, minus items already in the input


@dataclass(frozen=True)
class _Holdout:
    """Personalize's split, plus validation users for choosing EASE's λ and the recency weight τ.

    A seeded 10% of the users with 2+ distinct items are testing users: left out of training, scored
    on their newest 10% given their oldest 90%. The others, up to MAX_VALIDATION_USERS of them (a
    seeded sample), are validation users: they stay in training without their newest 10%, on which λ
    and τ are chosen, so one fit serves both purposes. Many validation users make the choice stable (a
    tenth of MovieLens-small's 610 users picked λ and τ by noise); past a few thousand, scoring them
    for every λ and τ costs more than it tells.
    """

    training: sp.csr_matrix
    validation: _Queries
    testing: _Queries

    @classmethod
    def draw(cls, data: _Interactions, seed: int) -> "_Holdout":
        # Users with 2+ distinct items: only they can have an input and a new item to find.
        eligible = np.flatnonzero(np.diff(data.matrix.indptr) >= 2)
        shuffled = np.random.default_rng(seed).permutation(eligible)
        share = offline.testing_share(len(eligible))
        testing = np.zeros(len(data.user_ids), dtype=bool)
        validation = np.zeros(len(data.user_ids), dtype=bool)
        testing[shuffled[:share]] = True
        validation[shuffled[share : share + MAX_VALIDATION_USERS]] = True

        held_counts = offline.held_counts(data.user_codes, testing | validation)[data.user_codes]
        held = data.newer < held_counts
        shape = data.matrix.shape
        kept = np.flatnonzero(~held)
        # Held interactions are a user's newest: without them, the input's ranks start again at 0.
        newer = data.newer[kept] - held_counts[kept]
        inputs = _recency_matrix(data.user_codes[kept], data.item_codes[kept], newer, shape)
        relevant = _binary_matrix(data.user_codes[held], data.item_codes[held], shape)
        # An item held out that is also in the input can never be recommended (seen items never
        # are), so it does not count as relevant; users left with nothing relevant are not scored.
        relevant = (relevant - relevant.multiply(_ones(inputs))).tocsr()
        relevant.eliminate_zeros()
        scorable = np.diff(relevant.indptr) > 0

        def queries(users: np.ndarray) -> _Queries:
            codes = np.flatnonzero(users & scorable)
            return _Queries(inputs[codes], relevant[codes])

        return cls(_ones(inputs[np.flatnonzero(~testing)]), queries(validation), queries(testing))


def _binary_matrix(rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=shape)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0  # repeated interactions count once
    return matrix


def _recency_matrix(rows: np.ndarray, columns: np.ndarray, newer: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """users x items: 1 + how many of the user's interactions are newer than their newest one with the
    item (1: the item of the user's newest interaction). One sort of a combined key finds each cell's
    smallest count and leaves the cells in CSR order."""
    span = int(newer.max(initial=0)) + 1
    cells = rows.astype(np.int64) * shape[1] + columns
    keyed = np.sort(cells * span + newer)
    cells = keyed // span
    first = np.ones(len(cells), dtype=bool)
    first[1:] = cells[1:] != cells[:-1]
    cells, ranks = cells[first], keyed[first] % span + 1
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(cells // shape[1], minlength=shape[0]), out=indptr[1:])
    return sp.csr_matrix((ranks.astype(np.float32), cells % shape[1], indptr), shape=shape)


def _ones(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The same cells with value 1: the binary history."""
    return sp.csr_matrix((np.ones_like(matrix.data), matrix.indices, matrix.indptr), shape=matrix.shape)


def _weighted(recency: sp.csr_matrix, tau: float | None) -> sp.csr_matrix:
    """The history a model scores: each cell weighs exp(-(rank - 1)/τ), or 1 when τ is None."""
    if tau is None:
        return _ones(recency)
    weights = np.maximum(np.exp(-(recency.data - 1) / np.float32(tau)), np.float32(MIN_RECENCY_WEIGHT))
    return sp.csr_matrix((weights, recency.indices, recency.indptr), shape=recency.shape)


def _lookup(sorted_ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Position of each key in `sorted_ids`, -1 where it is absent."""
    if len(sorted_ids) == 0 or len(keys) == 0:
        return np.full(len(keys), -1)
    positions = np.minimum(np.searchsorted(sorted_ids, keys), len(sorted_ids) - 1)
    return np.where(sorted_ids[positions] == keys, positions, -1)


def _ease_basis(matrix: sp.csr_matrix, solve: str | None) -> SpectralBasis | GramBasis:
    return SpectralBasis(matrix) if solve == "ease-users" else GramBasis(matrix)


def _fit(
    algorithm: str,
    matrix: sp.csr_matrix,
    penalty: float | None,
    seed: int,
    progress: Progress = NO_PROGRESS,
    solve: str | None = None,
) -> Scorer:
    if algorithm == "ease":
        if penalty is None:
            raise ValueError("EASE needs its penalty λ (choose it with _choose_scoring first)")
        return _ease_basis(matrix, solve).model(penalty)
    if algorithm == "als":
        return Als.fit(matrix, seed, progress)
    if algorithm == "item-knn":
        return ItemKnn.fit(matrix)
    return Popularity.fit(matrix)


def _choose_scoring(
    basis: SpectralBasis | GramBasis, validation: _Queries
) -> tuple[float, float | None, SpectralEase | GramEase]:
    """EASE's recency weight τ and λ by validation NDCG@25, and that λ's model.

    τ is chosen first, at PENALTY_START (_best_recency); then λ by a hill-climb over PENALTY_GRID from
    PENALTY_START, first in steps of 4x, then of 2x. Validation NDCG is unimodal in λ in practice, and
    the coarse steps reach a distant optimum in fewer fits (each one a Cholesky inverse on the items
    side). The two searches score the validation users about ten times, where trying every τ at every
    λ took 84. The best model is kept (on the items side a model is an items x items matrix: one is
    held besides the one scored).
    """
    start_model = basis.model(PENALTY_START)
    if validation.inputs.shape[0] == 0:
        return PENALTY_START, None, start_model
    first, recency = _best_recency(start_model, validation)
    start = PENALTY_GRID.index(PENALTY_START)
    seen = {start: first}
    kept = {start: start_model}

    # On the users side λ changes only the second of the two products: the first is made once.
    projections = (
        _projections(start_model, validation.inputs, recency) if isinstance(start_model, SpectralEase) else None
    )

    def quality(index: int) -> float:
        if index not in seen:
            model = basis.model(PENALTY_GRID[index])
            seen[index] = _validation_ndcg(model, validation, recency, projections)
            if seen[index] > max(seen[held] for held in kept):
                kept.clear()
                kept[index] = model
        return seen[index]

    best = _hill_climb(len(PENALTY_GRID), start, quality, steps=(2, 1))  # grid positions: 4x, then 2x
    # The climb ends on the best λ it saw, which is the one kept unless an equal came first.
    model = kept[best] if best in kept else basis.model(PENALTY_GRID[best])
    return PENALTY_GRID[best], recency, model


def _best_recency(model: Scorer, validation: _Queries) -> tuple[float, float | None]:
    """The best validation NDCG@25 over RECENCY_GRID and its τ, by a hill-climb from the middle of the
    grid: NDCG rises and then falls as the decay gets stronger, so four or five τ of seven are scored."""
    tried: dict[int, float] = {}

    def quality(index: int) -> float:
        if index not in tried:
            tried[index] = _validation_ndcg(model, validation, RECENCY_GRID[index])
        return tried[index]

    best = _hill_climb(len(RECENCY_GRID), len(RECENCY_GRID) // 2, quality, steps=(1,))
    return quality(best), RECENCY_GRID[best]


def _hill_climb(size: int, start: int, quality: Callable[[int], float], steps: tuple[int, ...]) -> int:
    """The grid position a climb from `start` ends on: for each step size in turn, it moves to the better
    of the two neighbours that far away while that one is strictly better (`quality` caches its answers)."""
    current = start
    for step in steps:
        while True:
            neighbours = [index for index in (current - step, current + step) if 0 <= index < size]
            if not neighbours:
                break
            best = max(neighbours, key=quality)
            if quality(best) <= quality(current):
                break
            current = best
    return current


def _validation_ndcg(
    model: Scorer, validation: _Queries, tau: float | None, projections: list[np.ndarray] | None = None
) -> float:
    if validation.inputs.shape[0] == 0:
        return 0.0
    lists = _top_lists(model, validation.inputs, offline.TOP_K, tau, projections)
    hits = offline.hit_matrix(lists, validation.relevant)
    return float(offline.ndcg_at(hits, np.diff(validation.relevant.indptr), offline.TOP_K).mean())


def _testing_metrics(model: Scorer, testing: _Queries, catalogue_size: int, tau: float | None) -> dict[str, float]:
    """Personalize's metrics for the testing users; all 0.0 when none of them held out an item new
    to them (only possible when users repeat old items), as there is then nothing to find."""
    if testing.inputs.shape[0] == 0:
        return dict.fromkeys(offline.METRIC_NAMES, 0.0)
    recommended = _top_lists(model, testing.inputs, offline.TOP_K, tau)
    return offline.personalize_metrics(recommended, testing.relevant, catalogue_size)


def _top_lists(
    scorer: Scorer, inputs: sp.csr_matrix, k: int, tau: float | None, projections: list[np.ndarray] | None = None
) -> np.ndarray:
    """Each input's top k item codes, its own items excluded; inputs are recency ranks, scored with τ
    (by a users-side EASE model from the blocks' `projections` when given, see _projections)."""
    lists = []
    step = block_rows(inputs.shape[1])
    for index, start in enumerate(range(0, inputs.shape[0], step)):
        block = inputs[start : start + step]
        if projections is not None and isinstance(scorer, SpectralEase):
            scores = scorer.scores_of_projection(projections[index])
        else:
            scores = scorer.scores(_weighted(block, tau))
        exclude(scores, block)
        lists.append(top_k(scores, k)[0])
    return np.concatenate(lists) if lists else np.empty((0, k), dtype=np.int64)


def _projections(model: SpectralEase, inputs: sp.csr_matrix, tau: float | None) -> list[np.ndarray]:
    """The users-side projection of each block of `inputs` weighted with τ, in _top_lists' blocks."""
    step = block_rows(inputs.shape[1])
    return [model.projection(_weighted(inputs[start : start + step], tau)) for start in range(0, inputs.shape[0], step)]
