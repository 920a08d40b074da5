"""Campaigns of the local Personalize service: CreateCampaign, DescribeCampaign, UpdateCampaign, ListCampaigns and
DeleteCampaign on the simulated clock, and which solution version a campaign serves at a given moment.

Statuses, as Personalize reports them:

* a campaign is CREATE PENDING, then CREATE IN_PROGRESS, then ACTIVE (`CREATE_SECONDS` after its creation);
* an update leaves the campaign ACTIVE and reports itself as `latestCampaignUpdate`: UPDATE PENDING, UPDATE
  IN_PROGRESS, then ACTIVE (`UPDATE_SECONDS`). Until then the campaign keeps serving, and describing, its previous
  solution version, minProvisionedTPS and campaignConfig (the UpdateCampaign reference says so); from then on,
  the update's;
* a deleted campaign is DELETE PENDING, then DELETE IN_PROGRESS, then gone (ResourceNotFoundException).

`campaignConfig.syncWithLatestSolutionVersion` (with `solutionVersionArn` in `<solution ARN>/$LATEST` form, as
Personalize requires) makes the campaign follow its solution: each solution version that becomes ACTIVE after the
one deployed starts an automatic update at the moment it became ACTIVE (or once the update or creation before it is
over), which shows as `latestCampaignUpdate` like a manual one. The statuses only depend on simulated times, never
on when a request happens to look. `itemExplorationConfig`, `rankingInfluence` and
`enableMetadataWithRecommendations` are kept and reported, and have no effect on the local recommendations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recflow.personalize_local.errors import PersonalizeError, already_exists, in_use, invalid_input, not_found
from recflow.personalize_local.resources import ACTIVE, CREATE_IN_PROGRESS, CREATE_PENDING, compact

if TYPE_CHECKING:
    from recflow.personalize_local.backend import PersonalizeBackend
    from recflow.personalize_local.resources import SolutionVersion

# Simulated seconds a deployment takes (Personalize needs minutes to provision a campaign's endpoint).
CREATE_SECONDS = 300.0
UPDATE_SECONDS = 300.0
DELETE_SECONDS = 60.0
DEFAULT_MIN_TPS = 1
LATEST = "/$LATEST"

UPDATE_PENDING = "UPDATE PENDING"
UPDATE_IN_PROGRESS = "UPDATE IN_PROGRESS"
DELETE_PENDING = "DELETE PENDING"
DELETE_IN_PROGRESS = "DELETE IN_PROGRESS"


@dataclass(frozen=True, kw_only=True)
class Deployment:
    """What a campaign serves once a creation or update is ACTIVE, and that creation's or update's timeline."""

    solution_version_arn: str
    min_tps: int
    config: dict[str, Any]
    created: float
    started: float  # PENDING until then, IN_PROGRESS until `due`
    due: float  # ACTIVE from then on

    def is_active(self, now: float) -> bool:
        return now >= self.due

    def updated(self, now: float) -> float:
        return self.due if now >= self.due else self.started if now >= self.started else self.created

    def update_summary(self, now: float) -> dict[str, Any]:
        """The CampaignUpdateSummary shape (DescribeCampaign's latestCampaignUpdate)."""
        status = ACTIVE if now >= self.due else UPDATE_IN_PROGRESS if now >= self.started else UPDATE_PENDING
        return {
            "solutionVersionArn": self.solution_version_arn,
            "minProvisionedTPS": self.min_tps,
            "campaignConfig": self.config,
            "status": status,
            "creationDateTime": self.created,
            "lastUpdatedDateTime": self.updated(now),
        }


@dataclass(kw_only=True)
class Campaign:
    name: str
    arn: str
    solution_arn: str
    creation: Deployment
    updates: list[Deployment] = field(default_factory=list)  # oldest first; each starts after the one before
    deleting: tuple[float, float, float] | None = None  # (requested, started, gone) on the simulated clock

    @property
    def latest(self) -> Deployment:
        """The newest update, else the creation: what the campaign deploys once nothing is in progress."""
        return self.updates[-1] if self.updates else self.creation

    @property
    def synced(self) -> bool:
        return bool(self.latest.config.get("syncWithLatestSolutionVersion"))

    def status(self, now: float) -> str:
        if self.deleting is not None:
            return DELETE_PENDING if now < self.deleting[1] else DELETE_IN_PROGRESS
        if now >= self.creation.due:
            return ACTIVE
        return CREATE_IN_PROGRESS if now >= self.creation.started else CREATE_PENDING

    def is_gone(self, now: float) -> bool:
        return self.deleting is not None and now >= self.deleting[2]

    def deployed(self, now: float) -> Deployment:
        """The creation or newest update that is ACTIVE at `now` (the creation while it is not)."""
        active = [update for update in self.updates if update.is_active(now)]
        return active[-1] if active else self.creation

    def busy_until(self) -> float:
        """When the creation and every update so far are over."""
        return max([self.creation.due, *(update.due for update in self.updates)])

    def updated(self, now: float) -> float:
        if self.deleting is not None:
            return self.deleting[1] if now >= self.deleting[1] else self.deleting[0]
        active = [update for update in self.updates if update.is_active(now)]
        return active[-1].due if active else self.creation.updated(now)

    def summary(self, now: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "campaignArn": self.arn,
            "status": self.status(now),
            "creationDateTime": self.creation.created,
            "lastUpdatedDateTime": self.updated(now),
        }

    def to_dict(self, now: float) -> dict[str, Any]:
        deployed = self.deployed(now)
        body = self.summary(now) | {
            "solutionVersionArn": deployed.solution_version_arn,
            "minProvisionedTPS": deployed.min_tps,
            "campaignConfig": deployed.config,
            "latestCampaignUpdate": self.updates[-1].update_summary(now) if self.updates else None,
        }
        return compact(body)


class Campaigns:
    """The campaigns of one backend. Calls come with the backend's lock held (PersonalizeResponses.handle)."""

    def __init__(self, backend: PersonalizeBackend) -> None:
        self._backend = backend
        self._campaigns: dict[str, Campaign] = {}

    def create(
        self,
        name: str,
        solution_version_arn: str,
        min_tps: int | None = None,
        config: dict[str, Any] | None = None,
    ) -> Campaign:
        now = self._backend.now()
        arn = f"arn:aws:personalize:{self._backend.region}:{self._backend.account_id}:campaign/{name}"
        self._forget_gone(now)
        if arn in self._campaigns:
            raise already_exists("campaign", arn)
        config = _config(config)
        version = self._deployable(solution_version_arn, config, now)
        solution_arn = version.solution.arn
        creation = self._deployment(version.arn, _min_tps(min_tps), config, now, CREATE_SECONDS)
        campaign = Campaign(name=name, arn=arn, solution_arn=solution_arn, creation=creation)
        self._campaigns[arn] = campaign
        return campaign

    def describe(self, arn: str) -> Campaign:
        now = self._backend.now()
        self._forget_gone(now)
        if arn not in self._campaigns:
            raise not_found("campaign", arn)
        campaign = self._campaigns[arn]
        self._follow_latest(campaign, now)
        return campaign

    def newest_first(self, solution_arn: str | None = None) -> list[Campaign]:
        """ListCampaigns: every campaign, or a solution's (none for a solution that does not exist: ListCampaigns
        declares no ResourceNotFoundException)."""
        now = self._backend.now()
        self._forget_gone(now)
        found = [c for c in self._campaigns.values() if solution_arn in (None, c.solution_arn)]
        for campaign in found:
            self._follow_latest(campaign, now)
        return sorted(found, key=lambda c: (c.creation.created, c.arn), reverse=True)

    def update(
        self,
        arn: str,
        solution_version_arn: str | None = None,
        min_tps: int | None = None,
        config: dict[str, Any] | None = None,
    ) -> Campaign:
        campaign = self.describe(arn)
        now = self._backend.now()
        status = campaign.status(now)
        if status != ACTIVE:
            raise in_use(f"The campaign {arn} is {status}; it can be updated once it is ACTIVE.")
        if now < campaign.busy_until():
            raise in_use(f"The campaign {arn} has an update in progress; update it again once that one is ACTIVE.")
        current = campaign.deployed(now)
        config = _config(config) if config is not None else dict(current.config)
        if solution_version_arn is None:
            if config.get("syncWithLatestSolutionVersion"):
                solution_version_arn = campaign.solution_arn + LATEST
            else:
                solution_version_arn = current.solution_version_arn
        version = self._deployable(solution_version_arn, config, now)
        if version.solution.arn != campaign.solution_arn:
            raise invalid_input(
                f"The solution version {version.arn} is not a version of {campaign.solution_arn}, the campaign's "
                "solution; create a campaign for it instead."
            )
        tps = _min_tps(min_tps) if min_tps is not None else current.min_tps
        campaign.updates.append(self._deployment(version.arn, tps, config, now, UPDATE_SECONDS))
        return campaign

    def delete(self, arn: str) -> None:
        campaign = self.describe(arn)
        now = self._backend.now()
        status = campaign.status(now)
        if campaign.deleting is not None:
            raise in_use(f"The campaign {arn} is {status}.")
        if status != ACTIVE or now < campaign.busy_until():
            raise in_use(f"The campaign {arn} is {status} or being updated; delete it once that is over.")
        pending = min(self._backend.settings.pending_seconds, DELETE_SECONDS)
        campaign.deleting = (now, now + pending, now + DELETE_SECONDS)

    def served_version(self, arn: str) -> str:
        """The solution version an ACTIVE campaign serves now; ResourceNotFoundException when it serves none (it
        does not exist, or is still being created or deleted: no endpoint answers for it)."""
        campaign = self.describe(arn)
        now = self._backend.now()
        status = campaign.status(now)
        if status != ACTIVE:
            raise not_found("campaign", arn) if campaign.deleting is not None else _not_serving(arn, status)
        return campaign.deployed(now).solution_version_arn

    def on_solution(self, solution_arn: str) -> list[str]:
        """ARNs of the campaigns (not yet gone) of a solution: while there are any, it cannot be deleted."""
        self._forget_gone(self._backend.now())
        return [c.arn for c in self._campaigns.values() if c.solution_arn == solution_arn]

    # ------------------------------------------------------------------------------------------ internals

    def _deployment(
        self, version_arn: str, min_tps: int, config: dict[str, Any], now: float, seconds: float
    ) -> Deployment:
        pending = min(self._backend.settings.pending_seconds, seconds)
        return Deployment(
            solution_version_arn=version_arn,
            min_tps=min_tps,
            config=config,
            created=now,
            started=now + pending,
            due=now + seconds,
        )

    def _deployable(self, arn: str, config: dict[str, Any], now: float) -> SolutionVersion:
        """The ACTIVE solution version `arn` names (for `<solution>/$LATEST`: the newest ACTIVE one)."""
        synced = bool(config.get("syncWithLatestSolutionVersion"))
        if arn.endswith(LATEST) != synced:
            raise invalid_input(
                "syncWithLatestSolutionVersion true needs solutionVersionArn in SolutionArn/$LATEST format, and that "
                f"format needs syncWithLatestSolutionVersion true; got {arn} with syncWithLatestSolutionVersion "
                f"{str(synced).lower()}."
            )
        if synced:
            solution_arn = arn.removesuffix(LATEST)
            version = self._newest_active(solution_arn, now)
            if version is None:
                raise invalid_input(
                    f"The solution {solution_arn} has no ACTIVE solution version to deploy; train one first."
                )
            return version
        version = self._backend.describe_solution_version(arn)
        status = version.status(now)
        if status != ACTIVE:
            raise in_use(f"The solution version {arn} is {status}; a campaign can deploy it once it is ACTIVE.")
        return version

    def _newest_active(self, solution_arn: str, now: float) -> SolutionVersion | None:
        versions = self._backend.list_solution_versions(solution_arn)  # newest first, each observed
        return next((v for v in versions if v.status(now) == ACTIVE), None)

    def _follow_latest(self, campaign: Campaign, now: float) -> None:
        """Start the automatic updates of a synced campaign: one per solution version that became ACTIVE after the
        one it deploys last, each at the moment that version became ACTIVE or once the update before is over."""
        if campaign.deleting is not None or not campaign.synced:
            return
        target = campaign.latest
        versions = self._backend.list_solution_versions(campaign.solution_arn)
        newer = [v for v in versions if v.status(now) == ACTIVE and v.due > target.created]
        for version in sorted(newer, key=lambda v: (v.due, v.created)):
            if version.arn == target.solution_version_arn:
                continue
            begins = max(version.due, campaign.busy_until())
            if begins > now:
                break
            target = self._deployment(version.arn, target.min_tps, target.config, begins, UPDATE_SECONDS)
            campaign.updates.append(target)

    def _forget_gone(self, now: float) -> None:
        for arn in [arn for arn, campaign in self._campaigns.items() if campaign.is_gone(now)]:
            del self._campaigns[arn]


def _config(config: dict[str, Any] | None) -> dict[str, Any]:
    # Personalize reports syncWithLatestSolutionVersion whether or not the request set it.
    return {"syncWithLatestSolutionVersion": False, **(config or {})}


def _min_tps(value: int | None) -> int:
    tps = DEFAULT_MIN_TPS if value is None else value
    if tps < 1:
        raise invalid_input(f"minProvisionedTPS must be 1 or more, not {tps}.")
    return tps


def _not_serving(arn: str, status: str) -> PersonalizeError:
    return PersonalizeError(
        "ResourceNotFoundException",
        f"The campaign {arn} is {status}; it serves recommendations once it is ACTIVE.",
    )
