"""The campaign engine's one error type."""


class CampaignError(ValueError):
    """A campaign request that cannot be carried out; the message says why."""
