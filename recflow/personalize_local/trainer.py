"""What the local service trains and recommends with: passed in by its caller, not imported by name.

The backend only needs a model's offline metrics; everything else about a model is the trainer's
business, so any object with `train` and `recommend` (the numeric recommender, or a test's fake) fits.
"""

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from recflow.personalize_local.interactions import Interactions


class TrainedModel(Protocol):
    @property
    def metrics(self) -> Mapping[str, float]:
        """GetSolutionMetrics' answer: Personalize's metric names and values."""
        ...


class Trainer(Protocol):
    def train(self, data: Interactions, recipe_arn: str, seed: int) -> TrainedModel:
        """A model of `data` for the recipe; ValueError when the recipe cannot be trained on it."""
        ...

    def recommend(self, model: Any, input_lines: list[str], num_results: int) -> Iterable[str]:
        """Batch inference output lines (no newlines), one per input line; ValueError on bad input."""
        ...


class NumericTrainer:
    """recflow's recommender (recommender.py, batch.py) as a Trainer."""

    def train(self, data: Interactions, recipe_arn: str, seed: int) -> TrainedModel:
        # Imported on first use: numpy/scipy work is only needed once a solution version trains.
        from recflow.personalize_local import recommender

        return recommender.train(data.users, data.items, data.timestamps, recipe_arn, seed=seed)

    def recommend(self, model: Any, input_lines: list[str], num_results: int) -> Iterable[str]:
        from recflow.personalize_local import batch

        return batch.batch_output_lines(model, input_lines, num_results)


def default_trainer() -> Trainer:
    """The trainer `recflow local run` and `recflow local serve` give the local service."""
    return NumericTrainer()
