"""Recency weights: a user's recent interactions count more when the model scores them, when validation says so."""

import numpy as np
import pytest

from recflow.personalize_local import metrics, recommender

USER_PERSONALIZATION = "aws-user-personalization-v2"
NDCG = "normalized_discounted_cumulative_gain_at_25"


def drifting(stable: int = 150, drifters: int = 150, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clusters "a", "b" and "c" of 30 items. Stable users take 20 items of one cluster, so a model can
    learn the clusters; drifters take 10 items of one cluster, then 10 of the next one. Drifters 0 and 1
    (users u0 and u1) hold the same items in opposite orders: "a" then "b", and "b" then "a"."""
    rng = np.random.default_rng(seed)
    pick = lambda: rng.choice(30, 10, replace=False)  # noqa: E731
    histories = {}
    shared = (pick(), pick())
    histories["u0"] = [f"a{i}" for i in shared[0]] + [f"b{i}" for i in shared[1]]
    histories["u1"] = [f"b{i}" for i in shared[1]] + [f"a{i}" for i in shared[0]]
    for user in range(2, drifters):
        old, new = "abc"[user % 3], "abc"[(user + 1) % 3]
        histories[f"u{user}"] = [f"{old}{i}" for i in pick()] + [f"{new}{i}" for i in pick()]
    for user in range(stable):
        cluster = "abc"[user % 3]
        histories[f"s{user}"] = [f"{cluster}{i}" for i in rng.choice(30, 20, replace=False)]
    rows = [
        (user, item, 1_600_000_000 + step * 3_600)
        for user, items in histories.items()
        for step, item in enumerate(items)
    ]
    users, items, timestamps = zip(*rows, strict=True)
    return np.array(users), np.array(items), np.array(timestamps)


def test_newer_counts_order_by_time_then_by_row():
    # Given user 0's rows at t = 5, 1, 5 and user 1's single row
    user_codes = np.array([0, 0, 1, 0])
    timestamps = np.array([5, 1, 9, 5])

    newer = metrics.newer_counts(user_codes, timestamps)

    # Then of user 0's two rows at t=5 the later row is the newer one
    assert newer.tolist() == [1, 2, 0, 0]


def test_a_history_weighs_each_item_by_its_newest_interaction():
    # Given u0 who used x, then y, then x again (and enough other users to train)
    users = np.array(["u0", "u0", "u0"] + [f"v{n}" for n in range(40) for _ in range(2)])
    items = np.array(["x", "y", "x"] + [f"i{(n + k) % 7}" for n in range(40) for k in range(2)])
    timestamps = np.array([1, 2, 3] + [10, 11] * 40)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recommender, "RECENCY_GRID", (10.0,))
        model = recommender.train(users, items, timestamps, USER_PERSONALIZATION)

    row = model.profiles[np.searchsorted(model.user_ids, "u0")]
    weights = dict(zip(model.item_ids[row.indices].tolist(), row.data.tolist(), strict=True))
    # Then x weighs 1 (it is also the newest interaction) and y exp(-1/10): one interaction is newer
    assert weights == pytest.approx({"x": 1.0, "y": float(np.exp(np.float32(-0.1)))})
    assert model.recency == 10.0
    # and the history the filters see stays 0/1
    assert sorted(model.history[np.searchsorted(model.user_ids, "u0")].data.tolist()) == [1.0, 1.0]


def test_validation_chooses_recency_for_users_who_drift_and_it_pays_off():
    users, items, timestamps = drifting()
    model = recommender.train(users, items, timestamps, USER_PERSONALIZATION)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recommender, "RECENCY_GRID", (None,))
        plain = recommender.train(users, items, timestamps, USER_PERSONALIZATION)

    # Then a recency weight is chosen, and the testing users' newest items are found far better
    assert model.recency is not None and plain.recency is None
    assert model.metrics[NDCG] > 1.2 * plain.metrics[NDCG]
    # and users 0 and 1, who hold the same items, are recommended from the cluster each moved to
    zero, one = model.recommend(["u0", "u1"], 10, mask=model.seen(["u0", "u1"]))
    assert sum(item.startswith("b") for item in zero.items) >= 8
    assert sum(item.startswith("a") for item in one.items) >= 8


def test_the_oldest_items_of_a_long_history_keep_a_small_weight():
    # Given a user with 400 items (exp(-399/2.5) underflows float32) among shorter histories
    users, items, timestamps = drifting()
    users = np.concatenate([users, ["long"] * 400])
    items = np.concatenate([items, [f"z{n}" for n in range(400)]])
    timestamps = np.concatenate([timestamps, 1_700_000_000 + np.arange(400)])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recommender, "RECENCY_GRID", (2.5,))
        model = recommender.train(users, items, timestamps, USER_PERSONALIZATION)

    # Then every item the user holds still weighs something (0 would read as "no interaction" to ALS)
    row = model.profiles[np.searchsorted(model.user_ids, "long")]
    assert row.nnz == 400
    assert row.data.min() == pytest.approx(recommender.MIN_RECENCY_WEIGHT)
    assert row.data.max() == 1.0
