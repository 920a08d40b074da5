"""Synthetic ratings in the MovieLens HetRec 2011 layout, realistic enough to train and evaluate on.

``user_ratedmovies-timestamps.dat`` layout: tab-separated, header ``userID movieID rating timestamp``,
ratings 0.5-5, timestamps in milliseconds, rows sorted by user then movie, one rating per pair.

What makes it realistic (and lets a personalised recommender beat popularity):
- item popularity is long-tailed (Zipf-like), user activity too (log-normal, at least 20 ratings);
- users belong to latent taste clusters: each item has a genre, each user a Dirichlet mixture over
  genres, and picks items by popularity times taste (weighted sampling without replacement);
- each user's history is ordered in time and drifts from an early taste towards a late one, in
  sessions of quick successive ratings spread over months or years;
- ratings follow user bias, item quality and taste fit; users who started before February 2003 rate
  in whole stars (MovieLens introduced half stars then).

Seeded and deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
from pydantic import BaseModel

from recflow.progress import NO_PROGRESS, Progress

# HetRec 2011 MovieLens: 2,113 users, 10,197 movies, 855,598 ratings.
HETREC_USERS = 2_113
HETREC_ITEMS = 10_197
HETREC_INTERACTIONS = 855_598

HEADER = "userID\tmovieID\trating\ttimestamp"
MIN_RATINGS_PER_USER = 20  # MovieLens only keeps users with at least 20 ratings
TASTE_STRENGTH = 3.5  # exponent on the taste fit: how much taste counts against popularity
ZIPF_EXPONENT = 2.3  # item weight ~ 1 / (rank + 5) ** ZIPF_EXPONENT (before saturation by heavy users)
BLOCK_ROWS = 500_000  # rows generated and written at a time: memory stays bounded whatever the size
RACE_USERS = 128  # users whose item races are drawn at once (128 x 10k items: 5 MB of float32)
RACE_SAMPLE = 1_024  # columns that estimate each user's race threshold

DAY = 86_400
WINDOW_START = 875_664_000  # 1997-10-01, seconds
WINDOW_END = 1_230_768_000  # 2009-01-01
HALF_STARS_FROM = 1_045_526_400  # 2003-02-18


class SyntheticStats(BaseModel):
    """What generate() wrote."""

    path: str
    seed: int
    users: int
    items: int  # distinct items rated (the long tail leaves some of the catalogue unrated)
    catalogue_items: int
    interactions: int
    clusters: int
    bytes: int
    first_timestamp_ms: int
    last_timestamp_ms: int
    mean_rating: float
    top_1pct_items_share: float  # share of interactions on the 1% most rated items
    max_user_interactions: int
    median_user_interactions: float


def generate(
    path: str | Path,
    users: int = HETREC_USERS,
    items: int = HETREC_ITEMS,
    interactions: int = HETREC_INTERACTIONS,
    seed: int = 0,
    clusters: int = 20,
    progress: Progress = NO_PROGRESS,
) -> SyntheticStats:
    """Write a HetRec-layout ratings file to path and describe it; `progress` sees rows written.

    Users are generated and written a block at a time (about BLOCK_ROWS rows): memory stays bounded
    whatever the size, and only per-user and per-item arrays are held whole.
    """
    _check_sizes(users, items, interactions, clusters)
    rng = np.random.default_rng(seed)

    # Sparse ids like the real files (HetRec user ids go up to 71,534), so code cannot assume 1..n.
    user_ids = np.sort(rng.choice(np.arange(1, users * 34 + 1), size=users, replace=False))
    item_ids = np.sort(rng.choice(np.arange(1, items * 6 + 1), size=items, replace=False))

    counts = _activity(rng, users, items, interactions)
    popularity = _zipf_popularity(rng, items)
    genre = rng.integers(0, clusters, size=items)
    quality = rng.normal(0.0, 0.35, size=items) + 0.15 * _standardise(np.log(popularity))
    early_taste = rng.dirichlet(np.full(clusters, 0.3), size=users)
    late_taste = _drifted(rng, early_taste)
    user_bias = rng.normal(0.0, 0.45, size=users)
    starts, spans = _time_windows(rng, users)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    per_item = np.zeros(items, dtype=np.int64)
    rating_sum, first_second, last_second = 0.0, WINDOW_END, WINDOW_START
    with path.open("wb") as out, progress.step("Generating rows", total=interactions) as advance:
        size = out.write((HEADER + "\n").encode())
        for block in _user_blocks(counts):
            taste = ((early_taste[block] + late_taste[block]) / 2 * clusters + 0.02) ** TASTE_STRENGTH
            user_index = np.repeat(np.arange(block.start, block.stop), counts[block])
            item_index = _pick_items(rng, counts[block], popularity, genre, taste)
            early, late = early_taste[user_index, genre[item_index]], late_taste[user_index, genre[item_index]]
            fit = np.log((early + late) / 2 * clusters + 0.05)
            # Within each user, items that suit the late taste come later (noisily): the drift.
            lean = np.log(late + 1e-3) - np.log(early + 1e-3)
            in_time_order = _by_group_then(user_index - block.start, lean + rng.normal(0.0, 1.0, size=len(lean)))
            item_index, fit = item_index[in_time_order], fit[in_time_order]
            seconds = starts[user_index] + _session_times(rng, counts[block], spans[block])
            whole_stars = (starts < HALF_STARS_FROM)[user_index]
            ratings = _ratings(rng, user_bias[user_index] + quality[item_index] + 0.35 * fit, whole_stars)

            order = np.argsort(user_index * (int(item_ids[-1]) + 1) + item_ids[item_index], kind="stable")
            user_index, item_index, ratings, seconds = (a[order] for a in (user_index, item_index, ratings, seconds))
            size += _write_rows(out, user_ids[user_index], item_ids[item_index], ratings, seconds * 1000)
            per_item += np.bincount(item_index, minlength=items)
            rating_sum += float(ratings.sum())
            first_second, last_second = min(first_second, int(seconds.min())), max(last_second, int(seconds.max()))
            advance(len(ratings))

    top = np.sort(per_item)[::-1][: max(1, items // 100)]
    return SyntheticStats(
        path=str(path),
        seed=seed,
        users=int((counts > 0).sum()),
        items=int((per_item > 0).sum()),
        catalogue_items=items,
        interactions=int(counts.sum()),
        clusters=clusters,
        bytes=size,
        first_timestamp_ms=first_second * 1000,
        last_timestamp_ms=last_second * 1000,
        mean_rating=round(rating_sum / counts.sum(), 3),
        top_1pct_items_share=round(float(top.sum() / counts.sum()), 4),
        max_user_interactions=int(counts.max()),
        median_user_interactions=float(np.median(counts)),
    )


def users_file(path: str | Path, user_ids: Iterable[str | int]) -> int:
    """Write Personalize batch input, one {"userId": "..."} per line; returns the number of lines."""
    lines = [json.dumps({"userId": str(user_id)}) for user_id in user_ids]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return len(lines)


def _check_sizes(users: int, items: int, interactions: int, clusters: int) -> None:
    if users < 1 or items < 1 or clusters < 1:
        raise ValueError("users, items and clusters must each be at least 1.")
    if interactions < users:
        raise ValueError(f"{interactions} interactions cannot give each of {users} users a rating.")
    # Each user rates an item at most once and nobody rates more than 80% of the catalogue.
    if interactions > users * int(items * 0.8):
        raise ValueError(f"{interactions} interactions do not fit {users} users x {items} items: add items or users.")


def _activity(rng: np.random.Generator, users: int, items: int, interactions: int) -> np.ndarray:
    """Ratings per user: log-normal (a few users rate thousands), at least 20, summing to interactions."""
    cap = int(items * 0.8)
    floor = min(MIN_RATINGS_PER_USER, interactions // users, cap)
    weights = rng.lognormal(0.0, 1.0, size=users)
    counts = np.full(users, floor)
    remaining = interactions - counts.sum()
    while remaining > 0:
        room = cap - counts
        share = np.where(room > 0, weights, 0.0)
        extra = np.minimum(np.floor(remaining * share / share.sum()).astype(int), room)
        if extra.sum() == 0:  # the last few go one each to the heaviest users with room
            heaviest = np.argsort(-share)[:remaining]
            extra = np.zeros(users, dtype=int)
            extra[heaviest] = 1
        counts += extra
        remaining = interactions - counts.sum()
    return counts


def _zipf_popularity(rng: np.random.Generator, items: int) -> np.ndarray:
    ranks = rng.permutation(items) + 1
    popularity: np.ndarray = 1.0 / (ranks + 5.0) ** ZIPF_EXPONENT
    return popularity


def _standardise(values: np.ndarray) -> np.ndarray:
    standard: np.ndarray = (values - values.mean()) / (values.std() or 1.0)
    return standard


def _drifted(rng: np.random.Generator, taste: np.ndarray) -> np.ndarray:
    """Where each user's taste moves to: part of it is replaced by a new mixture."""
    new = rng.dirichlet(np.full(taste.shape[1], 0.3), size=taste.shape[0])
    amount = rng.uniform(0.2, 0.6, size=(taste.shape[0], 1))
    drifted: np.ndarray = (1 - amount) * taste + amount * new
    return drifted


def _time_windows(rng: np.random.Generator, users: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's first rating time and active span (days to years), inside the data set's window."""
    starts = rng.uniform(WINDOW_START, WINDOW_END - 30 * DAY, size=users).astype(np.int64)
    spans = (rng.lognormal(np.log(120.0), 1.3, size=users) * DAY).astype(np.int64)
    return starts, np.clip(spans, DAY, WINDOW_END - starts)


def _user_blocks(counts: np.ndarray) -> Iterator[slice]:
    """Consecutive users whose ratings add up to about BLOCK_ROWS (a heavy user makes a block alone)."""
    ends = np.cumsum(counts)
    first = 0
    while first < len(counts):
        last = int(np.searchsorted(ends, ends[first] - counts[first] + BLOCK_ROWS, side="right"))
        last = max(last, first + 1)
        yield slice(first, last)
        first = last


def _pick_items(
    rng: np.random.Generator, counts: np.ndarray, popularity: np.ndarray, genre: np.ndarray, taste: np.ndarray
) -> np.ndarray:
    """Item indexes of each user's ratings (counts[u] each, user by user), weighted by popularity times the
    user's taste for the item's genre, without replacement.

    Exponential races (Efraimidis-Spirakis): the k smallest Exp(1)/weight are a weighted sample without
    replacement. Keys are drawn RACE_USERS users at a time in single precision, with the items grouped by
    genre so that a user's taste scales column ranges instead of being gathered item by item; each user's
    k smallest are found under a threshold estimated on a sample of the columns, generously (a user with
    too few keys under it is selected exactly instead), so one comparison replaces a selection per user.
    """
    items = len(genre)
    by_genre = np.argsort(genre, kind="stable")
    bounds = np.searchsorted(genre[by_genre], np.arange(taste.shape[1] + 1))
    inverse_popularity = (1.0 / popularity[by_genre]).astype(np.float32)
    sample = np.sort(rng.choice(items, size=min(items, RACE_SAMPLE), replace=False))
    picked = []
    for first in range(0, len(counts), RACE_USERS):
        block = slice(first, min(first + RACE_USERS, len(counts)))
        wanted = counts[block]
        keys = rng.standard_exponential(size=(len(wanted), items), dtype=np.float32)
        keys *= inverse_popularity
        inverse_taste = (1.0 / taste[block]).astype(np.float32)
        for cluster, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            keys[:, start:stop] *= inverse_taste[:, cluster : cluster + 1]
        # Enough keys under the threshold for each user's k smallest, with room for the sample's error.
        rank = np.minimum(np.ceil((wanted * 1.25 + 32) * len(sample) / items).astype(np.int64), len(sample)) - 1
        threshold = np.sort(keys[:, sample], axis=1)[np.arange(len(wanted)), rank]
        threshold[rank == len(sample) - 1] = np.inf
        rows, columns = np.nonzero(keys <= threshold[:, None])
        order = np.lexsort((keys[rows, columns], rows))  # exact: keys span many magnitudes
        rows, columns = rows[order], columns[order]
        rank_in_row = np.arange(len(rows)) - np.searchsorted(rows, rows)
        chosen = columns[rank_in_row < wanted[rows]]
        short = np.flatnonzero(np.bincount(rows, minlength=len(wanted)) < wanted)
        if len(short):  # the sample misjudged these users: select theirs exactly
            per_user = np.split(chosen, np.cumsum(np.minimum(np.bincount(rows, minlength=len(wanted)), wanted))[:-1])
            for row in short:
                per_user[row] = np.argpartition(keys[row], wanted[row] - 1)[: wanted[row]]
            chosen = np.concatenate(per_user)
        picked.append(by_genre[chosen])
    return np.concatenate(picked)


def _by_group_then(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The order by group (small non-negative integers), then value: np.lexsort((values, groups)), as one
    sort of floats (the group plus the value scaled into [0, 1)), three times faster. For values of a
    modest range (the scaling keeps about 33 bits of it)."""
    low, span = float(values.min(initial=0.0)), float(np.ptp(values)) if len(values) else 0.0
    order: np.ndarray = np.argsort(groups + (values - low) / (span * 1.001 + 1e-12), kind="stable")
    return order


def _session_times(rng: np.random.Generator, counts: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Seconds since each user's first rating time, users in turn, each user's non-decreasing: sessions
    spread over the user's span, ratings within a session seconds to minutes apart."""
    users = len(counts)
    user = np.repeat(np.arange(users), counts)
    sessions = 1 + rng.poisson(counts / 40)
    # Which session each rating falls in: sorted uniform draws per user, scaled to the session count.
    draws = rng.random(len(user))
    session = (draws[_by_group_then(user, draws)] * sessions[user]).astype(np.int64)
    session_user = np.repeat(np.arange(users), sessions)
    offsets = rng.random(len(session_user))
    offsets = (offsets[_by_group_then(session_user, offsets)] * spans[session_user]).astype(np.int64)
    first_session = np.concatenate(([0], np.cumsum(sessions)[:-1]))
    session_start = offsets[first_session[user] + session]
    # Seconds since the session began: cumulative gaps restarted at each session's first rating.
    gaps = rng.exponential(45.0, size=len(user)).astype(np.int64)
    group = first_session[user] + session
    new_group = np.concatenate(([True], group[1:] != group[:-1]))
    elapsed = np.cumsum(gaps)
    elapsed -= np.maximum.accumulate(np.where(new_group, elapsed - gaps, 0))
    seconds = session_start + elapsed
    # Sessions can run into the next one: keep each user's times non-decreasing.
    shift = user.astype(np.int64) << 40
    ordered: np.ndarray = np.maximum.accumulate(seconds + shift) - shift
    return ordered


def _ratings(rng: np.random.Generator, expected_offset: np.ndarray, whole_stars: np.ndarray) -> np.ndarray:
    """0.5-5 stars around a MovieLens-like mean of 3.5: user bias + item quality + taste fit + noise."""
    raw = 3.05 + expected_offset + rng.normal(0.0, 0.8, size=len(expected_offset))
    return np.where(whole_stars, np.clip(np.round(raw), 1.0, 5.0), np.clip(np.round(raw * 2) / 2, 0.5, 5.0))


def _write_rows(
    out: BinaryIO, user_ids: np.ndarray, item_ids: np.ndarray, ratings: np.ndarray, timestamps_ms: np.ndarray
) -> int:
    """Append the rows as tab-separated text; returns the bytes written. Arrow writes whole ratings without
    a decimal point ("4", "3.5"), as HetRec does."""
    table = pa.table({"userID": user_ids, "movieID": item_ids, "rating": ratings, "timestamp": timestamps_ms})
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none"))
    return out.write(buffer.getbuffer())
