"""Training and recommending: recipes, exclusions, cold users, scores, determinism, metrics."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from recflow.personalize_local import costs, ease, recommender
from recflow.personalize_local.metrics import METRIC_NAMES
from recflow.personalize_local.ranking import ItemMask
from recflow.personalize_local.score_rows import ScoreRows

from .conftest import Clustered

USER_PERSONALIZATION = "arn:aws:personalize:::recipe/aws-user-personalization-v2"


@pytest.fixture(scope="module")
def ease_model(clustered: Clustered) -> recommender.TrainedModel:
    return recommender.train(clustered.users, clustered.items, clustered.timestamps, USER_PERSONALIZATION)


@pytest.fixture(scope="module")
def als_model(clustered: Clustered) -> recommender.TrainedModel:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recommender, "TIME_BUDGET_SECONDS", 0.0)  # no EASE solve is cheap enough now
        return recommender.train(clustered.users, clustered.items, clustered.timestamps, USER_PERSONALIZATION)


@pytest.mark.parametrize(
    ("recipe", "algorithm", "query_key"),
    [
        ("arn:aws:personalize:::recipe/aws-user-personalization", "ease", "userId"),
        ("aws-user-personalization-v2", "ease", "userId"),
        ("arn:aws:personalize:::recipe/aws-popularity-count", "popularity", "userId"),
        ("aws-similar-items", "item-knn", "itemId"),
        ("arn:aws:personalize:::recipe/aws-sims", "item-knn", "itemId"),
    ],
)
def test_recipes_map_to_local_algorithms(clustered: Clustered, recipe: str, algorithm: str, query_key: str):
    model = recommender.train(clustered.users, clustered.items, clustered.timestamps, recipe)

    assert (model.recipe, model.algorithm, model.query_key) == (recipe, algorithm, query_key)


def test_an_unsupported_recipe_is_one_clear_sentence(clustered: Clustered):
    with pytest.raises(ValueError, match=r"does not implement the recipe aws-trending-now; it supports aws-p"):
        recommender.train(
            clustered.users,
            clustered.items,
            clustered.timestamps,
            "arn:aws:personalize:::recipe/aws-trending-now",
        )


def shape(users: int, items: int, nonzeros: int) -> costs.Shape:
    """Interactions spread evenly over the users."""
    return costs.Shape(users, items, nonzeros, nonzeros**2 / users, validation_users=2_000)


@pytest.mark.parametrize(
    ("users", "items", "nonzeros", "algorithm", "solve"),
    [
        (2_113, 10_197, 855_598, "ease", "ease-users"),  # HetRec: few users, many items
        (20_000, 5_000, 1_000_000, "ease", "ease-items"),  # many users, a small catalogue
        (70_000, 10_000, 10_000_000, "als", None),  # EASE would take minutes: the Gram and B for everyone
    ],
)
def test_the_algorithm_is_chosen_by_estimated_cost(users: int, items: int, nonzeros: int, algorithm: str, solve):
    choice = recommender.choose_algorithm(USER_PERSONALIZATION, shape(users, items, nonzeros))

    assert (choice.algorithm, choice.solve) == (algorithm, solve)
    # and the decision names every estimate it weighed
    assert choice.decision.startswith(f"{solve or algorithm}: ")
    assert all(f"{name} ~" in choice.decision for name in ("ease-items", "ease-users", "als"))


def test_memory_pressure_switches_to_als(monkeypatch: pytest.MonkeyPatch):
    # Given only 100 MB of available memory, EASE's working sets for 2,100 x 10,000 are too big
    monkeypatch.setattr(recommender, "available_memory_bytes", lambda: 100e6)

    choice = recommender.choose_algorithm(USER_PERSONALIZATION, shape(2_100, 10_000, 850_000))

    assert choice.algorithm == "als"
    assert "no EASE solve within 60 s and 48 MB" in choice.decision


def test_the_trained_model_carries_its_decision(ease_model: recommender.TrainedModel):
    assert ease_model.decision.startswith(f"{ease_model.decision[:10]}: the cheaper EASE solve, within 60 s")
    assert ease_model.decision[:10] in ("ease-items", "ease-users")


def test_metrics_have_personalize_names_and_show_a_model_that_learned(ease_model: recommender.TrainedModel):
    assert list(ease_model.metrics) == list(METRIC_NAMES)
    assert all(0.0 <= value <= 1.0 for value in ease_model.metrics.values())
    # Users stick to their cluster, so the one held-out item of each testing user ranks high
    assert ease_model.metrics["precision_at_5"] > 0.1  # 0.2 would be a hit in every top 5
    assert ease_model.metrics["normalized_discounted_cumulative_gain_at_25"] > 0.4


def test_ease_beats_popularity_on_its_own_metrics(clustered: Clustered, ease_model: recommender.TrainedModel):
    popularity = recommender.train(clustered.users, clustered.items, clustered.timestamps, "aws-popularity-count")

    key = "normalized_discounted_cumulative_gain_at_10"
    assert ease_model.metrics[key] > 1.5 * popularity.metrics[key]


# A random item would be in the user's cluster 1 time in 3.
@pytest.mark.parametrize(("model_name", "in_cluster"), [("ease_model", 0.9), ("als_model", 0.8)])
def test_recommendations_follow_the_users_taste_and_skip_seen_items_when_masked(
    request: pytest.FixtureRequest, clustered: Clustered, model_name: str, in_cluster: float
):
    model = request.getfixturevalue(model_name)
    users = [f"u{u}" for u in range(90)]

    results = model.recommend(users, 5, mask=model.seen(users))
    unmasked = model.recommend(users, 5)

    assert len(results) == len(users)
    same_cluster = 0
    for user, result in zip(users, results, strict=True):
        assert len(result.items) == 5
        assert not set(result.items) & clustered.seen(user)
        same_cluster += sum(clustered.item_cluster[item] == clustered.user_cluster[user] for item in result.items)
    assert same_cluster / (5 * len(users)) > in_cluster
    # Without a mask, as in Personalize without a filter, seen items may come back
    assert any(set(result.items) & clustered.seen(user) for user, result in zip(users, unmasked, strict=True))


@pytest.mark.parametrize("recipe", [USER_PERSONALIZATION, "aws-personalized-ranking-v2"])
def test_scores_are_descending_in_zero_one_and_a_share_of_the_catalogue(clustered: Clustered, recipe: str):
    model = recommender.train(clustered.users, clustered.items, clustered.timestamps, recipe)

    for result in model.recommend([f"u{u}" for u in range(90)] + ["stranger"], 25):
        items, scores = result.items, result.scores
        assert scores is not None
        assert len(items) == len(scores) == len(set(items))
        assert all(0.0 < score <= 1.0 for score in scores)
        assert scores == sorted(scores, reverse=True)
        assert sum(scores) <= 1.0 + 1e-6


def test_popularity_count_gives_every_user_the_same_list_without_scores(clustered: Clustered):
    model = recommender.train(clustered.users, clustered.items, clustered.timestamps, "aws-popularity-count")
    users = [f"u{u}" for u in range(90)] + ["stranger"]

    results = model.recommend(users, 10)
    masked = model.recommend(["u0", "u1"], 10, mask=model.seen(["u0", "u1"]))

    assert all(result == results[0] for result in results)
    assert results[0].scores is None and len(results[0].items) == 10
    # Only a filter makes lists differ: each user then loses the items they have seen
    for user, result in zip(["u0", "u1"], masked, strict=True):
        assert not set(result.items) & clustered.seen(user)
        assert (
            result.items
            == [item for item in model.recommend([user], 60)[0].items if item not in clustered.seen(user)][:10]
        )


def test_an_include_mask_keeps_only_its_items_and_scores_share_them(ease_model: recommender.TrainedModel):
    allowed = np.searchsorted(ease_model.item_ids, ["i1", "i2", "i3"])
    cells = sp.csr_matrix((np.ones(3, dtype=np.float32), (np.zeros(3, dtype=int), allowed)), shape=(1, 60))

    (result,) = ease_model.recommend(["u0"], 10, mask=ItemMask(include=True, items=cells))

    assert sorted(result.items) == ["i1", "i2", "i3"]
    assert result.scores is not None and sum(result.scores) == pytest.approx(1.0, abs=1e-5)


def test_personalized_ranking_orders_the_input_list_like_recommendations(clustered: Clustered):
    model = recommender.train(
        clustered.users, clustered.items, clustered.timestamps, "arn:aws:personalize:::recipe/aws-personalized-ranking"
    )
    wanted = ["i5", "i0", "no-such-item", "i3", "i0"]

    ranked = model.rank("u0", wanted)
    without_i3 = model.rank("u0", wanted, model.seen(["u0"]) if "i3" in clustered.seen("u0") else None)

    full = model.recommend(["u0"], 60)[0].items
    assert (model.algorithm, model.query_key, model.returns_scores) == ("ease", "userId", True)
    assert ranked.items == [item for item in full if item in {"i5", "i0", "i3"}] + ["no-such-item"]
    assert ranked.scores is not None and ranked.scores[-1] == 0.0
    assert sum(ranked.scores) == pytest.approx(1.0, abs=1e-5)
    assert ranked.scores[:3] == sorted(ranked.scores[:3], reverse=True)
    assert set(without_i3.items) <= set(ranked.items)


def test_unknown_users_get_the_most_popular_items(clustered: Clustered, ease_model: recommender.TrainedModel):
    counts = {}
    for _user, item in set(zip(clustered.users.tolist(), clustered.items.tolist(), strict=True)):
        counts[item] = counts.get(item, 0) + 1
    most_popular = sorted(counts, key=lambda item: (-counts[item], item))[:10]

    cold, _ = ease_model.recommend(["nobody", "u1"], 10)

    assert cold.items == most_popular
    # A share of all interactions: the top item's count over the sum of all counts
    assert cold.scores is not None
    assert cold.scores[0] == pytest.approx(counts[most_popular[0]] / sum(counts.values()), rel=1e-6)


def test_num_results_is_honoured_up_to_what_can_be_recommended(ease_model: recommender.TrainedModel):
    (three,) = ease_model.recommend(["u0"], 3)
    (everything,) = ease_model.recommend(["u0"], 500)
    (unseen,) = ease_model.recommend(["u0"], 500, mask=ease_model.seen(["u0"]))

    assert len(three.items) == 3
    assert everything.items[:3] == three.items
    assert len(everything.items) == 60  # the whole catalogue, seen items included
    assert len(unseen.items) == 60 - len(
        set(ease_model.history[np.flatnonzero(ease_model.user_ids == "u0")[0]].indices)
    )
    with pytest.raises(ValueError, match="at least 1"):
        ease_model.recommend(["u0"], 0)


def test_a_user_who_has_seen_every_item_gets_an_empty_list_when_seen_items_are_masked(clustered: Clustered):
    # Given one more user who interacted with all 60 items
    users = np.concatenate([clustered.users, ["completist"] * 60])
    items = np.concatenate([clustered.items, [f"i{i}" for i in range(60)]])
    timestamps = np.concatenate([clustered.timestamps, np.arange(60)])
    model = recommender.train(users, items, timestamps, USER_PERSONALIZATION)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no numpy warnings on the way
        assert model.recommend(["completist"], 25, mask=model.seen(["completist"])) == [
            recommender.Recommendation([], [])
        ]


def test_related_items_exclude_the_query_item_and_stay_in_its_cluster(clustered: Clustered):
    model = recommender.train(clustered.users, clustered.items, clustered.timestamps, "aws-sims")

    results = model.recommend(["i0", "i1", "i2", "unknown-item"], 5)

    for query, result in zip(["i0", "i1", "i2"], results[:3], strict=True):
        assert query not in result.items
        assert [clustered.item_cluster[item] for item in result.items] == [clustered.item_cluster[query]] * 5
        assert result.scores is None  # Personalize gives no scores for related items
    assert results[3].items == model.recommend(["stranger"], 5)[0].items  # cold items get popular items


def test_training_is_deterministic_for_a_seed(clustered: Clustered):
    args = (clustered.users, clustered.items, clustered.timestamps, USER_PERSONALIZATION)
    first, second = recommender.train(*args, seed=3), recommender.train(*args, seed=3)
    other_seed = recommender.train(*args, seed=4)

    users = [f"u{u}" for u in range(90)]
    assert first.metrics == second.metrics
    assert first.penalty == second.penalty
    assert first.recommend(users, 25) == second.recommend(users, 25)
    assert other_seed.metrics != first.metrics  # another seed draws other testing users


def test_als_training_is_deterministic_for_a_seed(clustered: Clustered, als_model: recommender.TrainedModel):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recommender, "TIME_BUDGET_SECONDS", 0.0)
        again = recommender.train(clustered.users, clustered.items, clustered.timestamps, USER_PERSONALIZATION)

    assert als_model.algorithm == again.algorithm == "als"
    assert als_model.metrics == again.metrics
    assert als_model.recommend(["u0", "u5"], 10) == again.recommend(["u0", "u5"], 10)


def test_the_users_side_solve_is_used_for_wide_catalogues(wide: Clustered):
    model = recommender.train(wide.users, wide.items, wide.timestamps, USER_PERSONALIZATION)

    served = model.scorer.scorer if isinstance(model.scorer, ScoreRows) else model.scorer  # stored rows wrap it
    assert isinstance(served, ease.SpectralEase)
    users = ["u0", "u1"]
    for user, result in zip(users, model.recommend(users, 5, mask=model.seen(users)), strict=True):
        assert not set(result.items) & wide.seen(user)
        assert all(wide.item_cluster[item] == wide.user_cluster[user] for item in result.items)


@pytest.mark.parametrize(("users", "items"), [(40, 120), (150, 60)])
def test_both_ease_solves_equal_the_textbook_formula(users: int, items: int):
    # Given a random binary matrix and histories of users the model has never seen
    rng = np.random.default_rng(1)
    x = sp.csr_matrix((rng.random((users, items)) < 0.15).astype(np.float32))
    histories = sp.csr_matrix((rng.random((5, items)) < 0.2).astype(np.float32))
    penalty = 7.0
    inverse = np.linalg.inv((x.T @ x).toarray().astype(np.float64) + penalty * np.eye(items))
    b = -inverse / np.diag(inverse)
    np.fill_diagonal(b, 0.0)
    expected = histories @ b
    unseen = histories.toarray() == 0

    for basis in (ease.SpectralBasis(x), ease.GramBasis(x)):
        scores = basis.model(penalty).scores(histories)
        np.testing.assert_allclose(scores[unseen], expected[unseen], atol=1e-4)


def test_metrics_are_zero_when_testing_users_only_repeat_old_items():
    # Given users whose newest interaction repeats their first item: nothing new to recommend
    users = np.repeat([f"u{u}" for u in range(30)], 3)
    items = np.array([[f"i{u}", f"i{u + 1}", f"i{u}"] for u in range(30)]).ravel()
    timestamps = np.tile([1, 2, 3], 30)

    model = recommender.train(users, items, timestamps, USER_PERSONALIZATION)

    assert model.metrics == dict.fromkeys(METRIC_NAMES, 0.0)
    assert len(model.recommend(["u0"], 5)[0].items) == 5  # the model itself is fine


def test_mismatched_columns_and_too_little_data_are_rejected():
    with pytest.raises(ValueError, match="one value per interaction"):
        recommender.train(np.array(["a", "b"]), np.array(["x"]), np.array([1, 2]), USER_PERSONALIZATION)
    with pytest.raises(ValueError, match="at least 2 users"):
        recommender.train(np.array(["a", "b"]), np.array(["x", "y"]), np.array([1, 2]), USER_PERSONALIZATION)


@pytest.mark.parametrize(
    ("values", "start", "steps", "end", "scored"),
    [
        # τ's climb: from the middle, one position at a time, to the peak at 1 (scoring 5 of 7 positions)
        ([0.3, 0.5, 0.4, 0.2, 0.1, 0.0, 0.0], 3, (1,), 1, {0, 1, 2, 3, 4}),
        # a peak past the end of a step of 2, then found by the step of 1
        ([0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.5, 0.1], 1, (2, 1), 5, {1, 3, 5, 7, 4, 6}),
        # ties do not move the climb: it stays where it started
        ([0.2, 0.2, 0.2], 1, (1,), 1, {0, 1, 2}),
        # a grid of one position: nothing to compare, nothing scored
        ([0.7], 0, (1,), 0, set()),
    ],
)
def test_the_hill_climb_moves_to_strictly_better_neighbours(values, start, steps, end, scored):
    asked: list[int] = []

    def quality(index: int) -> float:
        asked.append(index)
        return values[index]

    assert recommender._hill_climb(len(values), start, quality, steps) == end
    assert set(asked) == scored
