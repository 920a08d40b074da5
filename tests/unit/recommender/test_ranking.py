import numpy as np
import pytest
from scipy.special import softmax

from recflow.personalize_local.ranking import SOFTMAX_TEMPERATURE, significant, softmax_scores, top_k


def test_significant_rounds_like_formatting_seven_digits():
    rng = np.random.default_rng(3)
    values = np.concatenate(
        [rng.random(20_000) ** 8, 10.0 ** rng.uniform(-300, 0, 20_000), [1.0, 0.1, 0.12345675, 9.99999995e-3]]
    )

    assert significant(values).tolist() == [float(f"{value:.7g}") for value in values]
    # a term that underflowed to 0 is still a score above 0
    assert significant(np.array([0.0])).tolist() == [1e-300]


def test_softmax_scores_are_the_softmax_over_rankable_items_whatever_the_block():
    rng = np.random.default_rng(4)
    scores = rng.standard_normal((50, 3_000)).astype(np.float32) * 7 + 2
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    _, top = top_k(scores, 25)

    probabilities = softmax_scores(scores.copy(), top)

    for row in (0, 17, 49):
        rankable = scores[row][np.isfinite(scores[row])].astype(np.float64)
        expected = softmax(rankable / (SOFTMAX_TEMPERATURE * rankable.std()))
        assert probabilities[row] == pytest.approx(np.sort(expected)[::-1][:25], rel=1e-5)
        # the same row alone gets the same numbers: batch output and real-time answers agree
        alone = softmax_scores(scores[row : row + 1].copy(), top[row : row + 1])
        assert alone[0].tolist() == probabilities[row].tolist()
