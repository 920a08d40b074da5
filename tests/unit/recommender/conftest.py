"""Small interaction data sets with a known structure, so tests can say what a good model does."""

from dataclasses import dataclass

import numpy as np
import pytest


@dataclass(frozen=True)
class Clustered:
    """Users of cluster c interact almost only with items of cluster c (ids "u<n>", "i<n>")."""

    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    user_cluster: dict[str, int]
    item_cluster: dict[str, int]

    def seen(self, user: str) -> set[str]:
        return set(self.items[self.users == user].tolist())


def make_clustered(users: int, items: int, clusters: int = 3, per_user: int = 8, seed: int = 7) -> Clustered:
    rng = np.random.default_rng(seed)
    item_cluster = {f"i{i}": i % clusters for i in range(items)}
    user_cluster = {f"u{u}": u % clusters for u in range(users)}
    rows = []
    for u in range(users):
        own = [i for i in range(items) if i % clusters == u % clusters]
        # Within a cluster, lower item numbers are more popular, so models have something to rank.
        weights = 1.0 / np.arange(1, len(own) + 1)
        chosen = rng.choice(own, size=min(per_user, len(own)), replace=False, p=weights / weights.sum())
        # The oldest interaction is a random item, possibly of another cluster: a little noise that
        # never lands in the held-out newest 10%.
        stray = int(rng.integers(items))
        for i in dict.fromkeys([stray, *chosen.tolist()]):
            rows.append((f"u{u}", f"i{i}"))
    timestamps = 1_600_000_000 + np.arange(len(rows)) * 60
    return Clustered(
        users=np.array([r[0] for r in rows]),
        items=np.array([r[1] for r in rows]),
        timestamps=timestamps,
        user_cluster=user_cluster,
        item_cluster=item_cluster,
    )


@pytest.fixture(scope="session")
def clustered() -> Clustered:
    """90 users, 60 items: more users than items (EASE solved on the items side)."""
    return make_clustered(users=90, items=60)


@pytest.fixture(scope="session")
def wide() -> Clustered:
    """40 users, 120 items: more items than users (EASE solved on the users side)."""
    return make_clustered(users=40, items=120, per_user=12)
