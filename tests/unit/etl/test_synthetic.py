"""The synthetic HetRec-layout generator: deterministic, the requested sizes, long-tailed, learnable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recflow.offline.etl import run_etl
from recflow.synthetic import HETREC_INTERACTIONS, HETREC_ITEMS, HETREC_USERS, generate, users_file

SMALL = {"users": 300, "items": 2_000, "interactions": 40_000}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    path = tmp_path_factory.mktemp("synthetic") / "ratings.dat"
    generate(path, seed=7, **SMALL)
    table = np.loadtxt(path, skiprows=1, delimiter="\t")
    return path, table


def test_the_same_seed_gives_the_same_bytes_and_another_seed_others(tmp_path: Path) -> None:
    generate(tmp_path / "a.dat", seed=1, users=50, items=300, interactions=3_000)
    generate(tmp_path / "b.dat", seed=1, users=50, items=300, interactions=3_000)
    generate(tmp_path / "c.dat", seed=2, users=50, items=300, interactions=3_000)

    assert (tmp_path / "a.dat").read_bytes() == (tmp_path / "b.dat").read_bytes()
    assert (tmp_path / "a.dat").read_bytes() != (tmp_path / "c.dat").read_bytes()


def test_the_file_has_the_hetrec_layout_and_the_requested_sizes(small: tuple[Path, np.ndarray]) -> None:
    path, table = small
    users, items, ratings, timestamps = table.T

    assert path.read_text().split("\n", 1)[0] == "userID\tmovieID\trating\ttimestamp"
    assert len(table) == SMALL["interactions"]
    assert len(np.unique(users)) == SMALL["users"]
    assert len(np.unique(items)) <= SMALL["items"]
    assert len({(u, i) for u, i in zip(users, items, strict=True)}) == len(table)  # one rating per pair
    assert np.bincount(np.unique(users, return_inverse=True)[1]).min() >= 20
    assert set(np.unique(ratings)) <= {r / 2 for r in range(1, 11)}
    assert 3.2 < ratings.mean() < 3.9
    assert (timestamps % 1000 == 0).all() and timestamps.min() > 8.7e11 and timestamps.max() < 1.24e12
    assert (timestamps.max() - timestamps.min()) / 1000 > 5 * 365 * 86_400


def test_rows_are_sorted_by_user_then_movie(small: tuple[Path, np.ndarray]) -> None:
    _, table = small

    assert (np.lexsort((table[:, 1], table[:, 0])) == np.arange(len(table))).all()


def test_the_etl_takes_every_line(small: tuple[Path, np.ndarray]) -> None:
    path, _ = small

    report = run_etl([("raw/ratings.dat", path)], None, "synthetic").report

    assert (report["header_lines"], report["rejected"], report["duplicates_dropped"]) == (1, 0, 0)
    assert report["interactions"] == SMALL["interactions"]
    assert report["users_with_2plus"] == SMALL["users"]
    assert report["timestamp_units"] == {
        "milliseconds": SMALL["interactions"],
        "seconds": 0,
        "microseconds": 0,
        "iso-8601": 0,
    }


def test_popularity_and_activity_are_long_tailed(small: tuple[Path, np.ndarray]) -> None:
    _, table = small
    per_item = np.sort(np.unique(table[:, 1], return_counts=True)[1])[::-1]
    per_user = np.unique(table[:, 0], return_counts=True)[1]

    top_1pct = per_item[: SMALL["items"] // 100].sum() / len(table)
    top_20pct = per_item[: SMALL["items"] // 5].sum() / len(table)
    assert top_1pct > 0.05  # over 5x a uniform share
    assert top_20pct > 0.5
    assert per_user.max() > 5 * np.median(per_user)


def precision_at_10(scores: np.ndarray, seen: np.ndarray, held_out: np.ndarray) -> float:
    scores = np.where(seen > 0, -np.inf, scores)
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    return float(np.take_along_axis(held_out, top, axis=1).mean())


def test_taste_clusters_let_a_personal_recommender_beat_popularity(small: tuple[Path, np.ndarray]) -> None:
    _, table = small
    users = np.unique(table[:, 0], return_inverse=True)[1]
    items = np.unique(table[:, 1], return_inverse=True)[1]
    # Hold out each user's newest 10%, as Personalize does.
    order = np.lexsort((table[:, 3], users))
    users, items = users[order], items[order]
    rank = np.arange(len(users)) - np.searchsorted(users, users)
    newest = rank >= np.ceil(0.9 * np.bincount(users)[users])
    seen = np.zeros((users.max() + 1, items.max() + 1))
    held_out = np.zeros_like(seen)
    seen[users[~newest], items[~newest]] = 1
    held_out[users[newest], items[newest]] = 1

    popularity = precision_at_10(np.tile(seen.sum(0), (len(seen), 1)), seen, held_out)
    # EASE (Steck 2019), the closed-form item-item model: B = I - P / diag(P), P = (X'X + 200 I)^-1.
    gram = seen.T @ seen + 200 * np.eye(seen.shape[1])
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0)
    ease = precision_at_10(seen @ weights, seen, held_out)

    assert ease > 1.3 * popularity


def test_users_file_writes_batch_input_lines(tmp_path: Path) -> None:
    count = users_file(tmp_path / "in" / "users.json", [75, "78"])

    lines = (tmp_path / "in" / "users.json").read_text().splitlines()
    assert count == 2
    assert [json.loads(line) for line in lines] == [{"userId": "75"}, {"userId": "78"}]


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ({"users": 10, "items": 100, "interactions": 5}, "5 interactions cannot give each of 10 users a rating"),
        ({"users": 10, "items": 10, "interactions": 100}, "100 interactions do not fit 10 users x 10 items"),
    ],
)
def test_impossible_sizes_are_refused_in_one_sentence(tmp_path: Path, sizes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(tmp_path / "x.dat", **sizes)


@pytest.mark.slow
def test_the_default_is_hetrec_sized(tmp_path: Path) -> None:
    stats = generate(tmp_path / "ratings.dat")

    assert (stats.users, stats.interactions, stats.catalogue_items) == (
        HETREC_USERS,
        HETREC_INTERACTIONS,
        HETREC_ITEMS,
    )
    assert stats.top_1pct_items_share > 0.08
