"""What each user-personalization algorithm would cost on a data set: the basis of the algorithm choice.

A cost is training (λ and τ search, held-out fit, served fit) plus scoring every user once (the batch job
that follows each training in the pipeline), in seconds estimated from the data's shape with rates measured
on a 2-core machine (bench/recommender_bench.py prints estimates beside measured times), and the peak
working set in bytes. recommender.choose_algorithm takes the cheaper EASE solve when it fits the time budget
and the memory, and ALS otherwise.
"""

from dataclasses import dataclass

# Measured rates (2 cores, float32).
PRODUCT_FLOPS = 1.2e11  # dense BLAS products on every core (a batch scoring 70k users x 10k items: 114 s)
DENSE_GRAM_CELLS = 2.0e11  # users x items² per second, Gram matrices from dense blocks (ssyrk)
SPARSE_GRAM_PAIRS = 1.2e8  # Σ (items per user)² per second, scipy's single-threaded sparse XᵀX
CHOLESKY_CUBE = 1.0e11  # n³ per second, a Cholesky inverse on one thread (10,000 items: 9.4 s)
EIGH_CUBE = 2.0e10  # n³ per second, an eigendecomposition on one thread (~5x a Cholesky inverse)
ALS_NONZERO_ITERATIONS = 8.0e6  # nonzeros x iterations per second, implicit's ALS, 64 factors
# How many λ and τ the searches try, typically (recommender's hill-climbs); the validation users are
# scored once for each.
PENALTY_TRIES = 5
RECENCY_TRIES = 5


@dataclass(frozen=True)
class Shape:
    users: int
    items: int
    nonzeros: int  # distinct (user, item) pairs
    pair_work: float  # Σ over users of (distinct items)²: the work of a sparse XᵀX
    validation_users: int


@dataclass(frozen=True)
class Estimate:
    name: str  # "ease-items", "ease-users" or "als" (recommender.py's solve names)
    seconds: float
    bytes: int

    def describe(self) -> str:
        return f"{self.name} ~{_figure(self.seconds)} s, {_figure(self.bytes / 2**20)} MB"


def _figure(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:,.0f}"


def ease_items_side(shape: Shape) -> Estimate:
    """Gram XᵀX (twice: held-out and served data), a Cholesky inverse per λ tried and one for the served
    fit, validation scoring per λ and τ, and every user's history times the items x items matrix B."""
    users, items = shape.users, shape.items
    gram = min(users * items**2 / DENSE_GRAM_CELLS, shape.pair_work / SPARSE_GRAM_PAIRS)
    inverses = (PENALTY_TRIES + 1) * items**3 / CHOLESKY_CUBE
    scored_rows = users + (PENALTY_TRIES + RECENCY_TRIES) * shape.validation_users
    scoring = 2 * scored_rows * items**2 / PRODUCT_FLOPS
    return Estimate("ease-items", 2 * gram + inverses + scoring, 4 * 2 * items * items)


def ease_users_side(shape: Shape) -> Estimate:
    """Gram XXᵀ and its eigendecomposition (twice), then per scored row two products through the
    users-side basis Y (rank <= users)."""
    users, items = shape.users, shape.items
    gram = min(users**2 * items / DENSE_GRAM_CELLS, shape.pair_work / SPARSE_GRAM_PAIRS)
    eigh = users**3 / EIGH_CUBE
    scored_rows = users + (PENALTY_TRIES + RECENCY_TRIES) * shape.validation_users
    scoring = 2 * 2 * scored_rows * users * items / PRODUCT_FLOPS
    return Estimate("ease-users", 2 * (gram + eigh) + scoring, 4 * (3 * users * users + 2 * users * items))


def als(shape: Shape, factors: int, iterations: int) -> Estimate:
    """Two fits (held-out and served), then user factors times item factors for every user."""
    fits = 2 * shape.nonzeros * iterations / ALS_NONZERO_ITERATIONS * factors / 64
    scoring = 2 * shape.users * factors * shape.items / PRODUCT_FLOPS
    return Estimate("als", fits + scoring, 4 * (shape.users + shape.items) * factors + 12 * shape.nonzeros)
