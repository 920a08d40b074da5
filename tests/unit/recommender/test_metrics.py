"""Offline metrics against hand-computed cases, including the examples in Personalize's documentation."""

import numpy as np
import pytest
import scipy.sparse as sp

from recflow.personalize_local import metrics


def relevant_rows(rows: list[list[int]], items: int = 100) -> sp.csr_matrix:
    data = [(r, i) for r, row in enumerate(rows) for i in row]
    r, i = zip(*data, strict=True)
    return sp.csr_matrix((np.ones(len(r)), (r, i)), shape=(len(rows), items))


def test_the_documented_example_hits_at_ranks_2_and_5():
    # Given Personalize's example: five recommendations, the 2nd and 5th are relevant (2 relevant items)
    recommended = np.array([[10, 11, 12, 13, 14]])
    hits = metrics.hit_matrix(recommended, relevant_rows([[11, 14]]))

    # Then the documented figures come out
    assert hits.tolist() == [[False, True, False, False, True]]
    assert metrics.reciprocal_rank_at(hits, 25)[0] == 0.5
    # (1/log(1+2) + 1/log(1+5)) / (1/log(1+1) + 1/log(1+2)) = 0.6241
    assert metrics.ndcg_at(hits, np.array([2]), 5)[0] == pytest.approx(0.6241, abs=5e-5)
    assert metrics.precision_at(hits, 5)[0] == 0.4


def test_the_documented_mean_reciprocal_rank_example():
    # Given three users who clicked ranks (4, 10), (2, 4, 12) and (6) of 25 recommendations
    hits = np.zeros((3, 25), dtype=bool)
    for user, ranks in enumerate([(4, 10), (2, 4, 12), (6,)]):
        hits[user, [rank - 1 for rank in ranks]] = True

    # Then MRR@25 = (1/4 + 1/2 + 1/6) / 3
    assert metrics.reciprocal_rank_at(hits, 25).mean() == pytest.approx(0.3056, abs=5e-5)


def test_personalize_metrics_for_two_users():
    # Given user A, recommended items 0..24, who went on to use items 1 and 4 (ranks 2 and 5),
    # and user B, recommended items 30..54, who used item 40 (rank 11) and item 99 (not recommended)
    recommended = np.array([np.arange(0, 25), np.arange(30, 55)])
    relevant = relevant_rows([[1, 4], [40, 99]])

    # When the metrics are computed over a catalogue of 100 items
    values = metrics.personalize_metrics(recommended, relevant, catalogue_size=100)

    # Then every figure is the mean of the two users' hand-computed values, rounded to 4 places
    assert values == {
        "coverage": 0.5,  # 50 distinct items of 100
        "mean_reciprocal_rank_at_25": 0.2955,  # (1/2 + 1/11) / 2
        "normalized_discounted_cumulative_gain_at_5": 0.312,  # (0.62405 + 0) / 2
        "normalized_discounted_cumulative_gain_at_10": 0.312,
        # B: (1/log2(12)) / (1/log2(2) + 1/log2(3)) = 0.17103; (0.62405 + 0.17103) / 2
        "normalized_discounted_cumulative_gain_at_25": 0.3975,
        "precision_at_5": 0.2,  # (2/5 + 0) / 2
        "precision_at_10": 0.1,  # (2/10 + 0) / 2
        "precision_at_25": 0.06,  # (2/25 + 1/25) / 2
    }
    assert list(values) == list(metrics.METRIC_NAMES)


def test_short_lists_still_divide_precision_by_k_and_never_hit_on_padding():
    # Given a list of two items (padded with -1) whose second item is relevant
    recommended = np.array([[7, 8, -1, -1, -1]])
    hits = metrics.hit_matrix(recommended, relevant_rows([[8]], items=10))

    assert hits.tolist() == [[False, True, False, False, False]]
    assert metrics.precision_at(hits, 5)[0] == 0.2
    assert metrics.recall_at(hits, np.array([1]), 5)[0] == 1.0
    assert metrics.ndcg_at(hits, np.array([1]), 5)[0] == pytest.approx(1 / np.log2(3))


def test_a_user_without_relevant_items_is_rejected():
    with pytest.raises(ValueError, match="at least one held-out interaction"):
        metrics.personalize_metrics(np.array([[1, 2]]), sp.csr_matrix((1, 10)), 10)


def test_newest_interactions_holds_out_the_newest_tenth_of_selected_users():
    # Given user 0 with 10 interactions, user 1 with 11, user 2 with 1, user 3 (not selected) with 5;
    # rows are shuffled, and user 0's two newest interactions share a timestamp
    users = np.array([0] * 10 + [1] * 11 + [2] + [3] * 5)
    timestamps = np.concatenate([[1, 2, 3, 4, 5, 6, 7, 8, 9, 9], np.arange(11), [5], np.arange(5)])
    shuffle = np.random.default_rng(0).permutation(len(users))
    users, timestamps = users[shuffle], timestamps[shuffle]
    rows = np.arange(len(users))
    selected = np.array([True, True, True, False])

    held = metrics.newest_interactions(users, timestamps, selected)

    # Then user 0 loses 1 interaction (ceil 1.0): of the two at t=9, the later row counts as newer
    user0_newest = rows[(users == 0) & (timestamps == 9)].max()
    assert set(rows[held & (users == 0)]) == {user0_newest}
    # user 1 loses ceil(1.1) = 2: its two newest; user 2 (one interaction) and user 3 lose nothing
    assert sorted(timestamps[held & (users == 1)]) == [9, 10]
    assert not held[users == 2].any() and not held[users == 3].any()


def test_testing_share_is_a_tenth_with_at_least_one_user():
    assert metrics.testing_share(610) == 61
    assert metrics.testing_share(25) == 3  # 2.5 rounds up
    assert metrics.testing_share(3) == 1
