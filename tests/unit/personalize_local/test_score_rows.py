"""The served model's stored score rows: a user's answer is bit-identical alone or inside any block of users."""

import numpy as np
import scipy.sparse as sp

from recflow.personalize_local import recommender
from recflow.personalize_local.score_rows import MAX_CELLS, ScoreRows
from recflow.synthetic import generate


def _model(tmp_path) -> recommender.TrainedModel:
    path = tmp_path / "ratings.dat"
    generate(path, users=40, items=300, interactions=2_400, seed=5)  # the e2e test's data: near ties happen
    table = np.loadtxt(path, skiprows=1)
    users, items = table[:, 0].astype(int).astype(str), table[:, 1].astype(int).astype(str)
    return recommender.train(users, items, (table[:, 3] // 1000).astype(int), "aws-user-personalization-v2")


def test_each_user_gets_the_same_items_and_scores_alone_as_in_a_block(tmp_path):
    # Given a trained user-personalization model
    model = _model(tmp_path)
    users = list(model.user_ids)
    # When every user is asked at once, in reverse order, and one at a time
    together = model.recommend(users, 25)
    reversed_block = model.recommend(users[::-1], 25)[::-1]
    alone = [model.recommend([user], 25)[0] for user in users]
    # Then the three agree exactly, items, order and scores
    assert isinstance(model.scorer, ScoreRows)
    assert together == alone == reversed_block


def test_histories_it_was_not_built_for_are_scored_by_the_model_itself(tmp_path):
    model = _model(tmp_path)
    scorer = model.scorer
    assert isinstance(scorer, ScoreRows)
    known = model.profiles[[0, 1]]
    new = sp.csr_matrix(([1.0], ([0], [5])), shape=(1, model.profiles.shape[1]), dtype=np.float32)
    mixed = scorer.scores(sp.vstack([known[0], new, known[1]]).tocsr())
    assert np.array_equal(mixed[[0, 2]], scorer.rows[[0, 1]])
    assert np.allclose(mixed[1], scorer.scorer.scores(new)[0], rtol=1e-5)
    # A model too large for stored rows scores on demand
    assert ScoreRows.of(scorer.scorer, sp.csr_matrix((MAX_CELLS // 300 + 1, 300), dtype=np.float32)) is scorer.scorer
