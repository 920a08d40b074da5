"""Benchmark of the local Personalize recommender: quality on real MovieLens data, speed and memory
of what training does on HetRec-sized data, and how both grow with users and items.

    .venv/bin/python bench/recommender_bench.py            # everything (~3-4 minutes on 2 cores)
    .venv/bin/python bench/recommender_bench.py --quick    # quality table and the HetRec-size runs

Quality: a per-user temporal holdout of two real data sets, ../shared/data/ml-latest-small-ratings.dat
(HetRec layout, ms timestamps; every rating counts as an interaction) and lastfm-2k-tagging.csv (user,
artist, ISO date; the 4 tags dated before 1970 are left out, as the ETL rejects them): the newest 10% of
every user's interactions are held out, every model is fitted on the rest and ranks 25 items per user,
items seen in training excluded. The plain EASE (λ=100) reference is computed here from the textbook
formula, independently of recflow's EASE. "default" is the product: train() chooses its algorithm, λ
and recency weight on its own validation split of the training part, never on the held-out part. A
data set's section is skipped when its file is absent.

Speed: synthetic data from recflow.synthetic; "product" is what a training job does (train():
λ search, held-out metrics fit, full fit) plus batch inference for every user (the .out lines). The
HetRec-size run is repeated with ALS forced (a time budget of 0), to show what the cheapest model saves
and what it costs in quality at the demo's size. Every measurement runs in a fresh process so its peak RSS
is its own; timings are wall-clock and suffer when other processes share the cores (the load average is
printed).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

# The development data sets sit beside the repository (../shared/data); RECFLOW_DATA points elsewhere.
DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MOVIELENS = Path(os.environ.get("RECFLOW_DATA", DATA_DIR)) / "ml-latest-small-ratings.dat"
LASTFM = Path(os.environ.get("RECFLOW_DATA", DATA_DIR)) / "lastfm-2k-tagging.csv"
K = 25
QUALITY_METHODS = ("most-popular", "item-knn", "ease-100", "als", "default")
HETREC = {"users": 2_113, "items": 10_197, "interactions": 855_598}
# (users, items, interactions): users and items scaled separately around HetRec's shape, so the cost
# estimates (costs.py) pick each of the EASE solves and ALS somewhere along the way.
SCALING = [
    (1_000, 10_000, 405_000),
    (4_200, 10_000, 1_700_000),
    (2_100, 5_000, 850_000),
    (2_100, 20_000, 850_000),
    (8_000, 5_000, 1_600_000),
]


def load_hetrec(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """User ids, item ids (as strings, like the Personalize CSV) and epoch seconds."""
    table = np.loadtxt(path, skiprows=1, dtype=np.float64)
    users = table[:, 0].astype(np.int64).astype(str)
    items = table[:, 1].astype(np.int64).astype(str)
    return users, items, (table[:, 3] // 1000).astype(np.int64)


def load_lastfm(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Last.fm tagging file (user_id,artist_id,tagged_at as ISO dates) in load_hetrec's form, without
    the dates before 1970 (the ETL rejects them)."""
    from pyarrow import csv

    table = csv.read_csv(
        path, convert_options=csv.ConvertOptions(column_types={"user_id": "string", "artist_id": "string"})
    )
    seconds = table["tagged_at"].cast("timestamp[s]").cast("int64").to_numpy()
    kept = seconds >= 0
    users = table["user_id"].to_numpy(zero_copy_only=False).astype(str)
    items = table["artist_id"].to_numpy(zero_copy_only=False).astype(str)
    return users[kept], items[kept], seconds[kept]


# Quality data sets: name -> (file, loader, targets for default's NDCG@25 as (reference method, ratio)).
DATASETS = {
    "MovieLens": (MOVIELENS, load_hetrec, (("ease-100", 1.05), ("most-popular", 1.9))),
    "Last.fm": (LASTFM, load_lastfm, (("ease-100", 1.0),)),
}


# ------------------------------------------------------------------------------------ quality


def quality(method: str, dataset: str) -> dict:
    from recflow.personalize_local import metrics, ranking, recommender
    from recflow.personalize_local.algorithms import Als, ItemKnn, Popularity

    path, load, _ = DATASETS[dataset]
    users, items, timestamps = load(path)
    user_ids, user_codes = np.unique(users, return_inverse=True)
    item_ids, item_codes = np.unique(items, return_inverse=True)
    held = metrics.newest_interactions(user_codes, timestamps, np.ones(len(user_ids), dtype=bool))
    shape = (len(user_ids), len(item_ids))
    train = _binary(user_codes[~held], item_codes[~held], shape)
    test = _binary(user_codes[held], item_codes[held], shape)
    test = (test - test.multiply(train)).tocsr()
    test.eliminate_zeros()
    evaluated = np.flatnonzero(np.diff(test.indptr) > 0)

    started = time.perf_counter()
    if method == "default":
        recipe = "aws-user-personalization-v2"
        model = recommender.train(users[~held], items[~held], timestamps[~held], recipe)
        fitted = time.perf_counter()
        keys = user_ids[evaluated].tolist()
        results = model.recommend(keys, K, mask=model.seen(keys))  # as the exclude-seen filter does
        recommended = np.full((len(evaluated), K), -1)
        for row, result in enumerate(results):
            recommended[row, : len(result.items)] = np.searchsorted(item_ids, result.items)
        extra = {"algorithm": model.algorithm, "penalty": model.penalty, "recency": model.recency}
    else:
        scorer = {
            "most-popular": Popularity.fit,
            "item-knn": ItemKnn.fit,
            "ease-100": lambda x: TextbookEase(x, 100.0),
            "als": lambda x: Als.fit(x, seed=0),
        }[method](train)
        fitted = time.perf_counter()
        blocks = []
        step = ranking.block_rows(shape[1])
        for start in range(0, len(evaluated), step):
            history = train[evaluated[start : start + step]]
            scores = scorer.scores(history)
            ranking.exclude(scores, history)
            blocks.append(ranking.top_k(scores, K)[0])
        recommended = np.concatenate(blocks)
        extra = {}
    scored = time.perf_counter()

    relevant = test[evaluated]
    hits = metrics.hit_matrix(recommended, relevant)
    counts = np.diff(relevant.indptr)
    return {
        "method": method,
        "ndcg@25": float(metrics.ndcg_at(hits, counts, K).mean()),
        "precision@25": float(metrics.precision_at(hits, K).mean()),
        "recall@25": float(metrics.recall_at(hits, counts, K).mean()),
        "coverage": metrics.coverage(recommended, shape[1]),
        "fit_s": fitted - started,
        "score_s": scored - fitted,
        "users": len(evaluated),
        **extra,
    }


class TextbookEase:
    """EASE straight from the paper: B = I - P/diag(P), P = (XᵀX + λI)⁻¹, zero diagonal."""

    def __init__(self, x: sp.csr_matrix, penalty: float) -> None:
        dense = x.toarray()
        gram = dense.T @ dense
        gram[np.diag_indices_from(gram)] += penalty
        p = np.linalg.inv(gram)
        self.b = -p / np.diag(p)
        np.fill_diagonal(self.b, 0.0)

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray(history @ self.b, dtype=np.float32)


def _binary(rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=shape)
    matrix.data[:] = 1.0
    return matrix


# ------------------------------------------------------------------------------------ product


def product(users: int, items: int, interactions: int, seed: int = 0, time_budget: float | None = None) -> dict:
    """Generate data, then time train() and the batch output for every user, as a job would; `time_budget`
    replaces the recommender's TIME_BUDGET_SECONDS (0: no EASE solve fits, so ALS)."""
    from recflow import synthetic
    from recflow.personalize_local import recommender
    from recflow.personalize_local.batch import batch_output_lines

    if time_budget is not None:
        recommender.TIME_BUDGET_SECONDS = time_budget
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ratings.dat"
        synthetic.generate(path, users=users, items=items, interactions=interactions, seed=seed)
        user_column, item_column, timestamps = load_hetrec(path)
    baseline_mb = _peak_mb()
    cpu_started = time.process_time()
    started = time.perf_counter()
    model = recommender.train(user_column, item_column, timestamps, "aws-user-personalization-v2", seed=seed)
    trained = time.perf_counter()
    lines = [json.dumps({"userId": user}) for user in model.user_ids]
    output = sum(1 for _ in batch_output_lines(model, lines, K))
    finished = time.perf_counter()
    assert output == len(lines)
    return {
        "users": len(model.user_ids),
        "items": len(model.item_ids),
        "interactions": len(user_column),
        "algorithm": model.algorithm,
        # The served scorer is wrapped in its stored rows (ScoreRows) unless they would be too large.
        "solve": {"SpectralEase": "users side", "GramEase": "items side"}.get(
            type(getattr(model.scorer, "scorer", model.scorer)).__name__, "-"
        ),
        "penalty": model.penalty,
        "ndcg@25 (metrics)": model.metrics["normalized_discounted_cumulative_gain_at_25"],
        "train_s": trained - started,
        "batch_s": finished - trained,
        "total_s": finished - started,
        "cpu_s": time.process_time() - cpu_started,  # all threads
        "baseline_mb": baseline_mb,
    }


# ------------------------------------------------------------------------------------ harness


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_isolated(task: str, **params) -> dict:
    """Run one task in a fresh interpreter; its result carries the process's peak RSS."""
    command = [sys.executable, __file__, "--task", task, "--params", json.dumps(params)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{task} {params} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _child(task: str, params: dict) -> None:
    result = {"quality": quality, "product": product}[task](**params)
    result["peak_mb"] = _peak_mb()
    print(json.dumps(result))


def _table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    def cell(row: dict, key: str, fmt: str) -> str:
        return "-" if row.get(key) is None else format(row[key], fmt)

    lines = [" | ".join(title for title, _, _ in columns), " | ".join("---" for _ in columns)]
    lines += [" | ".join(cell(row, key, fmt) for _, key, fmt in columns) for row in rows]
    return "\n".join(lines)


def _quality_section(dataset: str) -> None:
    path, _, targets = DATASETS[dataset]
    print(f"## Quality: {dataset} ({path.name}), newest 10% of each user's interactions held out\n")
    if not path.exists():
        print(f"skipped: {path} is absent\n")
        return
    rows = [run_isolated("quality", method=method, dataset=dataset) for method in QUALITY_METHODS]
    print(
        _table(
            rows,
            [
                ("model", "method", "s"),
                ("NDCG@25", "ndcg@25", ".4f"),
                ("precision@25", "precision@25", ".4f"),
                ("recall@25", "recall@25", ".4f"),
                ("coverage", "coverage", ".4f"),
                ("fit s", "fit_s", ".2f"),
                ("score s", "score_s", ".2f"),
                ("peak RSS MB", "peak_mb", ".0f"),
            ],
        )
    )
    by_method = {row["method"]: row for row in rows}
    default = by_method["default"]
    recency = "none" if default["recency"] is None else f"{default['recency']:g}"
    print(
        f"\ndefault = {default['algorithm']} (λ={default['penalty']:g}, recency τ={recency}, chosen on its own"
        f" validation split); {default['users']} users evaluated. default's fit is all of train(): λ and τ"
        " search, held-out metrics fit, full fit.\n"
        "ease-100 is the textbook reference (np.linalg.inv); its time and memory are not the product's.\n"
    )
    for reference, target in targets:
        ratio = default["ndcg@25"] / by_method[reference]["ndcg@25"]
        print(f"default NDCG@25 / {reference} = {ratio:.3f} (target >= {target:g}: {_verdict(ratio >= target)})")
    if dataset == "MovieLens":
        ease = by_method["ease-100"]
        for metric in ("precision@25", "recall@25", "coverage"):
            met = default[metric] >= ease[metric]
            print(f"default {metric} {default[metric]:.4f} vs ease-100 {ease[metric]:.4f} (no worse: {_verdict(met)})")
    print()


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def _product_section(sizes: list[tuple[int, int, int]], title: str, **params: float) -> list[dict]:
    print(f"## {title}\n")
    rows = [run_isolated("product", users=u, items=i, interactions=n, **params) for u, i, n in sizes]
    print(
        _table(
            rows,
            [
                ("users", "users", "d"),
                ("items", "items", "d"),
                ("interactions", "interactions", "d"),
                ("algorithm", "algorithm", "s"),
                ("EASE solve", "solve", "s"),
                ("λ", "penalty", "g"),
                ("train s", "train_s", ".2f"),
                ("batch s", "batch_s", ".2f"),
                ("total s", "total_s", ".2f"),
                ("CPU s", "cpu_s", ".2f"),
                ("peak RSS MB", "peak_mb", ".0f"),
                ("peak RSS before train MB", "baseline_mb", ".0f"),
                ("metrics NDCG@25", "ndcg@25 (metrics)", ".4f"),
            ],
        )
    )
    print()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="quality table and the HetRec-size run only")
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.task:
        _child(args.task, json.loads(args.params))
        return
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.2f}\n")
    for dataset in DATASETS:
        _quality_section(dataset)
    title = "HetRec size: train() + batch output for every user"
    (hetrec,) = _product_section([tuple(HETREC.values())], title)
    print(f"budget (<= 20 s, <= 2 GB): {_verdict(hetrec['total_s'] <= 20 and hetrec['peak_mb'] <= 2048)}\n")
    # What the cheapest model would save and cost at the demo's size (issue 13's 850k target).
    (als,) = _product_section(
        [tuple(HETREC.values())], "The same with ALS (a time budget no EASE solve fits)", time_budget=0
    )
    print(
        f"ALS / default: train {als['train_s'] / hetrec['train_s']:.2f}x the time, metrics NDCG@25 "
        f"{als['ndcg@25 (metrics)'] / hetrec['ndcg@25 (metrics)']:.3f}x\n"
    )
    if not args.quick:
        _product_section(SCALING, "Scaling: users and items varied separately")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
