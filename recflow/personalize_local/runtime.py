"""The personalize-runtime API of the local service: GetRecommendations and GetPersonalizedRanking from a campaign.

`PersonalizeRuntime(backend).handle(action, request)` takes and returns the operations' JSON bodies (rest-json:
POST /recommendations, POST /personalize-ranking; recflow/offline/moto_extensions.py routes them). Requests are
checked against botocore's `personalize-runtime` model first. A campaign answers once it is ACTIVE, from the
solution version it deploys at that moment (campaigns.py: during an update, the previous one), with the model
held in memory.

Both answer through the backend's `serving` (serving.py), the code batch inference answers through, so a user
(or item) and filter get the same items, in the same order, with the same scores as in a batch output file.

What the local service does not simulate, said once here:
- `context` is accepted and ignored (the local models use no contextual metadata);
- `recommenderArn` (domain recommenders), `promotions` and `metadataColumns` (they need an Items dataset) are
  refused with InvalidInputException naming them.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

import botocore.session
from botocore import xform_name
from botocore.model import ServiceModel

from recflow.personalize_local.backend import RECIPE_PREFIX, PersonalizeBackend
from recflow.personalize_local.errors import PersonalizeError, invalid_input
from recflow.personalize_local.validation import validate_request

DEFAULT_NUM_RESULTS = 25
MAX_INPUT_LIST = 500  # GetPersonalizedRanking's inputList, as documented (50 with metadata)
# Paths of the rest-json operations (botocore's personalize-runtime model): how a request names its action.
PATHS = {"/recommendations": "GetRecommendations", "/personalize-ranking": "GetPersonalizedRanking"}

RELATED_ITEMS = frozenset({"aws-similar-items", "aws-sims", "aws-semantic-similarity"})
PERSONALIZED_RANKING = frozenset({"aws-personalized-ranking", "aws-personalized-ranking-v2"})

Request = dict[str, Any]
Body = dict[str, Any]


@functools.cache
def runtime_model() -> ServiceModel:
    """botocore's personalize-runtime model, read from disk once."""
    return botocore.session.get_session().get_service_model("personalize-runtime")


def http_status(code: str) -> int:
    """The HTTP status personalize-runtime answers an error code with (ResourceNotFoundException: 404)."""
    for operation in runtime_model().operation_names:
        for error in runtime_model().operation_model(operation).error_shapes:
            if error.name == code:
                return int(error.metadata.get("error", {}).get("httpStatusCode", 400))
    return 400


class PersonalizeRuntime:
    """One method per personalize-runtime action the local service implements, named like boto3's."""

    ACTIONS: ClassVar[tuple[str, ...]] = ("GetRecommendations", "GetPersonalizedRanking")

    def __init__(self, backend: PersonalizeBackend) -> None:
        self.backend = backend

    def handle(self, action: str, request: Request) -> Body:
        if action not in self.ACTIONS:
            raise PersonalizeError(
                "UnknownOperationException", f"The local Personalize runtime does not implement {action}."
            )
        validate_request(runtime_model().operation_model(action), request)
        respond: Callable[[Request], Body] = getattr(self, xform_name(action))
        with self.backend.lock:
            try:
                return respond(request)
            except PersonalizeError as error:
                if error.code == "ResourceInUseException":  # a filter not ACTIVE yet: not a runtime error code
                    raise invalid_input(error.message) from error
                raise

    def get_recommendations(self, request: Request) -> Body:
        _refuse_unsimulated(request, ("promotions", "metadataColumns"))
        version_arn, recipe = self._served(request)
        if recipe in PERSONALIZED_RANKING:
            raise invalid_input(
                f"The campaign {request['campaignArn']} deploys a {recipe} solution: use GetPersonalizedRanking."
            )
        field = "itemId" if recipe in RELATED_ITEMS else "userId"
        key = request.get(field)
        if not key:
            raise invalid_input(f"{field} is required: the campaign's recipe {recipe} recommends for {field}.")
        (found,) = self.backend.serving.recommend(
            version_arn,
            [key],
            request.get("numResults", DEFAULT_NUM_RESULTS),
            filter_arn=request.get("filterArn"),
            filter_values=request.get("filterValues"),
            # Whose interactions a filter reads: for related items, the request's optional userId.
            users=[request.get("userId")] if field == "itemId" else None,
        )
        return {"itemList": _item_list(found.items, found.scores), "recommendationId": _recommendation_id()}

    def get_personalized_ranking(self, request: Request) -> Body:
        _refuse_unsimulated(request, ("metadataColumns",))
        version_arn, recipe = self._served(request)
        if recipe not in PERSONALIZED_RANKING:
            raise invalid_input(
                f"The campaign {request['campaignArn']} deploys a {recipe} solution; GetPersonalizedRanking needs a "
                "campaign of a PERSONALIZED_RANKING recipe (aws-personalized-ranking-v2)."
            )
        items = request["inputList"]
        if not 1 <= len(items) <= MAX_INPUT_LIST:
            raise invalid_input(f"inputList must hold 1 to {MAX_INPUT_LIST} item ids, not {len(items)}.")
        ranked = self.backend.serving.rank(
            version_arn,
            request["userId"],
            items,
            filter_arn=request.get("filterArn"),
            filter_values=request.get("filterValues"),
        )
        return {
            "personalizedRanking": _item_list(ranked.items, ranked.scores),
            "recommendationId": _recommendation_id(),
        }

    def _served(self, request: Request) -> tuple[str, str]:
        """The solution version the request's campaign serves now, and its recipe's name."""
        if request.get("recommenderArn"):
            raise invalid_input(
                "The local Personalize service does not simulate recommenders (domain dataset groups); "
                "ask a campaign with campaignArn."
            )
        arn = request.get("campaignArn")
        if not arn:
            raise invalid_input("campaignArn is required (the local Personalize service has no recommenders).")
        version_arn = self.backend.campaigns.served_version(arn)
        recipe = self.backend.describe_solution_version(version_arn).solution.recipe_arn
        return version_arn, recipe.removeprefix(RECIPE_PREFIX)


def _refuse_unsimulated(request: Request, members: tuple[str, ...]) -> None:
    given = [member for member in members if request.get(member)]
    if given:
        raise invalid_input(
            f"The local Personalize service does not simulate {' or '.join(given)} (they need an Items dataset)."
        )


def _item_list(items: list[str], scores: list[float] | None) -> list[dict[str, Any]]:
    """PredictedItem entries: a score only for recipes that return scores, as Personalize does."""
    if scores is None:
        return [{"itemId": item} for item in items]
    return [{"itemId": item, "score": score} for item, score in zip(items, scores, strict=True)]


def _recommendation_id() -> str:
    # Personalize's ids look like "RID-<uuid>"; each answer gets its own.
    return f"RID-{uuid.uuid4()}"
