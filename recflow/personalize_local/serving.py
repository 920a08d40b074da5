"""Answering with an ACTIVE solution version through a filter: what batch inference and the runtime API share.

A backend's `serving` answers batch inference jobs (`batch_answer`), GetRecommendations (`recommend`) and
GetPersonalizedRanking (`rank`) through the same code, so a user (or item) and filter get the same items, in the
same order, with the same scores, whichever asks.

A filter reads the dataset group's interactions as they are when it is applied, not the solution version's training
snapshot: each user's 100 most recent per event type (LocalSettings.filter_recent_per_event_type). What a filter
matches is kept per dataset group, catalogue and event types until an import replaces the interactions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from recflow.personalize_local.errors import PersonalizeError, invalid_input
from recflow.personalize_local.filters import RecentInteractions, user_rows
from recflow.personalize_local.interactions import Interactions
from recflow.personalize_local.ranking import ItemMask, empty_rows
from recflow.personalize_local.resources import BatchJob, Filter, SolutionVersion, require_active, require_job_active

if TYPE_CHECKING:
    from recflow.personalize_local.backend import PersonalizeBackend
    from recflow.personalize_local.batch import Answer, BatchRequest
    from recflow.personalize_local.recommender import Recommendation, TrainedModel

MAX_NUM_RESULTS = 500
MAX_CACHED_CELLS = 32  # a handful of filters and models at a time


def check_num_results(num_results: int) -> None:
    if not 1 <= num_results <= MAX_NUM_RESULTS:
        raise invalid_input(f"numResults must be between 1 and {MAX_NUM_RESULTS}, not {num_results}.")


@dataclass(frozen=True, eq=False)
class _Cells:
    """The users x catalogue items a filter's event types match, and what they were computed from."""

    recent: RecentInteractions
    item_ids: np.ndarray  # the catalogue; kept so its id() in the cache key cannot be reused
    user_ids: np.ndarray  # sorted, one per row of `cells`
    cells: sp.csr_matrix


class Serving:
    """Recommendations from one backend's solution versions, through its filters. Calls come with the
    backend's lock held (PersonalizeRuntime.handle takes it; a batch job answers inside the call that
    observes it)."""

    def __init__(self, backend: PersonalizeBackend) -> None:
        self._backend = backend
        # Per dataset group: its interactions and what filters read of them; rebuilt when an import replaces them.
        self._recent: dict[str, tuple[Interactions, RecentInteractions]] = {}
        # Per (dataset group, id of a catalogue, event types): the users x catalogue items a filter matches.
        self._filter_cells: dict[tuple[str, int, tuple[str, ...]], _Cells] = {}

    def trained_model(self, solution_version_arn: str) -> TrainedModel:
        """The ACTIVE solution version's model (recommender.TrainedModel)."""
        model: TrainedModel = self._active_version(solution_version_arn, self._backend.now()).model
        return model

    def recommend(
        self,
        solution_version_arn: str,
        keys: Sequence[str],
        num_results: int,
        *,
        filter_arn: str | None = None,
        filter_values: Mapping[str, str] | None = None,
        users: Sequence[str | None] | None = None,
    ) -> list[Recommendation]:
        """The top `num_results` items for each key (a user id; an item id for related-items recipes), as
        batch inference writes them and GetRecommendations answers: same items, order and scores.

        `filter_arn`/`filter_values` apply a filter (ACTIVE, of the solution's dataset group); without
        one, items the user interacted with may be recommended, as in Personalize. `users`: whose
        interactions the filter reads, per key (default: the keys for user recipes; nobody for related
        items, where a request's optional userId goes). Raises InvalidInputException,
        ResourceNotFoundException or ResourceInUseException as Personalize would."""
        now = self._backend.now()
        version = self._active_version(solution_version_arn, now)
        check_num_results(num_results)
        item_filter = self.usable_filter(filter_arn, version, now) if filter_arn else None
        model: TrainedModel = version.model
        if users is None:
            users = list(keys) if model.query_key == "userId" else [None] * len(keys)
        return self._recommend(model, keys, num_results, item_filter, filter_values, users)

    def rank(
        self,
        solution_version_arn: str,
        user_id: str,
        item_ids: Sequence[str],
        *,
        filter_arn: str | None = None,
        filter_values: Mapping[str, str] | None = None,
    ) -> Recommendation:
        """GetPersonalizedRanking: `item_ids` ordered for the user with the solution version's model
        (recommender.TrainedModel.rank: scores sum to 1 over the input items the model knows, unknown
        items last with score 0), minus what the filter rules out. Raises like `recommend`."""
        now = self._backend.now()
        version = self._active_version(solution_version_arn, now)
        item_filter = self.usable_filter(filter_arn, version, now) if filter_arn else None
        return self._rank(version.model, user_id, item_ids, item_filter, filter_values)

    def usable_filter(self, filter_arn: str, version: SolutionVersion, now: float) -> Filter:
        """The filter, once it is ACTIVE and of the version's dataset group (InvalidInputException otherwise)."""
        item_filter = self._backend.describe_filter(filter_arn)
        require_active(item_filter, "filter", now)
        if item_filter.dataset_group_arn != version.solution.dataset_group_arn:
            raise invalid_input(
                f"The filter {filter_arn} belongs to the dataset group {item_filter.dataset_group_arn}, not to "
                f"{version.solution.dataset_group_arn} of the solution version {version.arn}."
            )
        return item_filter

    def batch_answer(self, job: BatchJob) -> Answer:
        """Answers a batch job's usable lines through the same path as `recommend`, with the job's filter;
        a line whose filterValues Personalize would refuse gets the refusal as its error."""
        model: TrainedModel = job.version.model

        def answer(requests: Sequence[BatchRequest]) -> list[Recommendation | str]:
            # Lines with the same filterValues are answered together (one mask, one scoring block).
            groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
            for position, request in enumerate(requests):
                values = request.filter_values if job.filter is not None else None
                groups.setdefault(tuple(sorted((values or {}).items())), []).append(position)
            results: dict[int, Recommendation | str] = {}
            for values_key, positions in groups.items():
                values = dict(values_key) if values_key else None
                chosen = [requests[position] for position in positions]
                answers: Sequence[Recommendation | str]
                try:
                    if model.ranks_lists:
                        answers = [
                            self._rank(model, request.key, request.item_list or [], job.filter, values)
                            for request in chosen
                        ]
                    else:
                        keys = [request.key for request in chosen]
                        users = [request.user for request in chosen]
                        answers = self._recommend(model, keys, job.num_results, job.filter, values, users)
                except PersonalizeError as exc:
                    answers = [exc.message] * len(positions)
                results.update(zip(positions, answers, strict=True))
            return [results[position] for position in range(len(requests))]

        return answer

    # ------------------------------------------------------------------------------------------ internals

    def _active_version(self, solution_version_arn: str, now: float) -> SolutionVersion:
        version = self._backend.describe_solution_version(solution_version_arn)
        require_job_active(version, now)
        return version

    def _recommend(
        self,
        model: TrainedModel,
        keys: Sequence[str],
        num_results: int,
        item_filter: Filter | None,
        filter_values: Mapping[str, str] | None,
        users: Sequence[str | None],
    ) -> list[Recommendation]:
        mask = self._mask(item_filter, filter_values, model.item_ids, users)
        return list(model.recommend(keys, num_results, mask=mask))

    def _rank(
        self,
        model: TrainedModel,
        user: str,
        items: Sequence[str],
        item_filter: Filter | None,
        filter_values: Mapping[str, str] | None,
    ) -> Recommendation:
        return model.rank(user, items, self._mask(item_filter, filter_values, model.item_ids, [user]))

    def _mask(
        self,
        item_filter: Filter | None,
        filter_values: Mapping[str, str] | None,
        item_ids: np.ndarray,
        users: Sequence[str | None],
    ) -> ItemMask | None:
        """What the filter leaves each of `users` (None: no user, hence no interactions) of the catalogue
        `item_ids` (a model's sorted item ids): an ItemMask with one row per user, or None when nothing is
        filtered (no filter, or an EXCLUDE whose placeholders are all left unset). InvalidInputException
        for bad filterValues."""
        if item_filter is None:
            return None
        expression = item_filter.expression
        values = expression.values_for(filter_values, item_filter.arn)
        if values is None:
            return None
        user_ids, cells = self._matching_cells(item_filter.dataset_group_arn, values, item_ids)
        return ItemMask(include=expression.action == "INCLUDE", items=user_rows(user_ids, cells, users))

    def _matching_cells(
        self, group_arn: str, event_types: Sequence[str], item_ids: np.ndarray
    ) -> tuple[np.ndarray, sp.csr_matrix]:
        """(sorted user ids, users x catalogue) of the group's recent interactions with `event_types`."""
        data = self._backend.interactions(group_arn, self._backend.now())
        if data is None:
            return np.array([], dtype=str), empty_rows(0, len(item_ids))
        recent = self._recent.get(group_arn)
        if recent is None or recent[0] is not data:
            recent = (data, RecentInteractions.of(data, self._backend.settings.filter_recent_per_event_type))
            self._recent[group_arn] = recent
        wanted = tuple(sorted({value.lower() for value in event_types}))
        key = (group_arn, id(item_ids), wanted)
        cached = self._filter_cells.get(key)
        if cached is None or cached.recent is not recent[1] or cached.item_ids is not item_ids:
            if len(self._filter_cells) > MAX_CACHED_CELLS:
                self._filter_cells.clear()
            cached = _Cells(recent[1], item_ids, *recent[1].matrix(wanted, item_ids))
            self._filter_cells[key] = cached
        return cached.user_ids, cached.cells
