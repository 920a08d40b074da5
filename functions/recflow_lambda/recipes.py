"""The Personalize recipes recflow runs, and what a batch inference job of each one scores.

This is the one list: template.yaml's Recipe AllowedValues, the local recommender's recipes and the
README's recipe table are checked against it (tests/unit/test_contracts.py).
"""

from typing import Final

from recflow_lambda.errors import ConfigurationError
from recflow_lambda.models import BatchKind

# Recipe name -> the key of a batch input line: related-items recipes score items, the others users.
RECIPES: Final[dict[str, BatchKind]] = {
    "aws-user-personalization-v2": "userId",
    "aws-user-personalization": "userId",
    "aws-popularity-count": "userId",
    "aws-similar-items": "itemId",
    "aws-sims": "itemId",
}


def recipe_name(recipe_arn: str) -> str:
    """``aws-sims`` for ``arn:aws:personalize:::recipe/aws-sims``."""
    return recipe_arn.rsplit("/", 1)[-1]


def batch_kind(recipe_arn: str) -> BatchKind:
    name = recipe_name(recipe_arn)
    if name not in RECIPES:
        raise ConfigurationError(
            f"RECIPE_ARN {recipe_arn} names a recipe recflow does not run; use one of {', '.join(RECIPES)}."
        )
    return RECIPES[name]
