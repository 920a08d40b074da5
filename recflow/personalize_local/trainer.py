"""What the local service trains and recommends with: passed in by its caller, not imported by name.

The backend only needs a model's offline metrics; everything else about a model is the trainer's
business, so any object with `train` and `recommend` (the numeric recommender, or a test's fake) fits.
"""

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from recflow.personalize_local.interactions import Interactions
from recflow.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from recflow.personalize_local.batch import Answer


class TrainedModel(Protocol):
    @property
    def metrics(self) -> Mapping[str, float]:
        """GetSolutionMetrics' answer: Personalize's metric names and values."""
        ...


class Trainer(Protocol):
    def train(self, data: Interactions, recipe_arn: str, seed: int) -> TrainedModel:
        """A model of `data` for the recipe; ValueError when the recipe cannot be trained on it."""
        ...

    def recommend(
        self, model: Any, input_lines: list[str], num_results: int, answer: "Answer | None" = None
    ) -> Iterable[str]:
        """Batch inference output lines (no newlines), one per input line; ValueError on bad input.
        `answer`, when given, answers the usable lines (Serving.batch_answer, applying the job's filter)."""
        ...


class NumericTrainer:
    """recflow's recommender (recommender.py, batch.py) as a Trainer, reporting training and scoring."""

    def __init__(self, progress: Progress = NO_PROGRESS) -> None:
        self.progress = progress

    def train(self, data: Interactions, recipe_arn: str, seed: int) -> TrainedModel:
        # Imported on first use: numpy/scipy work is only needed once a solution version trains.
        from recflow.personalize_local import recommender

        return recommender.train(data.users, data.items, data.timestamps, recipe_arn, seed=seed, progress=self.progress)

    def recommend(
        self, model: Any, input_lines: list[str], num_results: int, answer: "Answer | None" = None
    ) -> Iterator[str]:
        from recflow.personalize_local import batch

        with self.progress.step("Scoring batch input lines", total=len(input_lines)) as advance:
            yield from batch.batch_output_lines(model, input_lines, num_results, advance, answer=answer)


def default_trainer(progress: Progress = NO_PROGRESS) -> Trainer:
    """The trainer `recflow local run` and `recflow local serve` give the local service."""
    return NumericTrainer(progress)
