"""Score rows of a served model, computed once: the same user gets bit-identical scores in every answer.

A model's raw scores come from dense BLAS products, and BLAS sums a row of a 1-row product (a GetRecommendations
request) in another order than the same row inside a block of rows (a batch inference job), or inside blocks of
other sizes (batch input files holding other users): the float32 results differ in their last bits, enough to
swap items whose scores nearly tie (2 users of 40 on the e2e test's synthetic data). Batch output and real-time
answers must list the same items in the same order, so the served model scores each training user once, in fixed
blocks, when it is trained, and answers from those rows.

Every training user's row is held (users x items float32: 86 MB at HetRec's 2,113 x 10,197), which also makes a
real-time request a row lookup instead of a product. Past MAX_CELLS the model scores on demand again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from recflow.personalize_local.ranking import block_rows

MAX_CELLS = 64_000_000  # 256 MB of float32 scores


class Scorer(Protocol):
    proportional: bool

    def scores(self, history: sp.csr_matrix) -> np.ndarray: ...


@dataclass(eq=False)
class ScoreRows:
    """A Scorer answering the histories it was built for from stored rows, and others through `scorer`."""

    scorer: Scorer
    rows: np.ndarray  # one row of scores per training user, float32
    positions: dict[bytes, int]  # a history's item codes and weights (_key) -> its row
    proportional: bool

    @classmethod
    def of(cls, scorer: Scorer, histories: sp.csr_matrix) -> Scorer:
        """`scorer` with the rows of `histories` (users x items, as the scorer reads them) computed now, in
        fixed blocks; `scorer` itself when they would take more than MAX_CELLS."""
        users, items = histories.shape
        if users * items > MAX_CELLS:
            return scorer
        rows = np.empty((users, items), dtype=np.float32)
        step = block_rows(items)
        for start in range(0, users, step):
            rows[start : start + step] = scorer.scores(histories[start : start + step])
        positions: dict[bytes, int] = {}
        for user in range(users):
            positions.setdefault(_key(histories, user), user)
        return cls(scorer, rows, positions, scorer.proportional)

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        found = [self.positions.get(_key(history, row)) for row in range(history.shape[0])]
        known = [position for position in found if position is not None]
        if len(known) == len(found):
            stored: np.ndarray = self.rows[known]  # a copy: callers set excluded cells to -inf in place
            return stored
        answer = np.empty((history.shape[0], self.rows.shape[1]), dtype=np.float32)
        misses = [row for row, position in enumerate(found) if position is None]
        hits = [row for row, position in enumerate(found) if position is not None]
        answer[misses] = self.scorer.scores(history[misses])
        answer[hits] = self.rows[known]
        return answer


def _key(history: sp.csr_matrix, row: int) -> bytes:
    """A history row's identity: its item codes, sorted, and their weights in that order."""
    cells = slice(history.indptr[row], history.indptr[row + 1])
    order = np.argsort(history.indices[cells], kind="stable")
    codes, weights = history.indices[cells][order], history.data[cells][order]
    return codes.astype(np.int64).tobytes() + weights.astype(np.float32).tobytes()
