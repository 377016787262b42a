"""On-call data. The final schedule is computed (`oncall.rotation`), never stored."""

from oncall.models.people import (
    CalendarFeed,
    HandoffKind,
    HandoffNotice,
    ShiftSwap,
    SwapStatus,
)
from oncall.models.schedules import (
    Layer,
    LayerParticipant,
    LayerRestriction,
    LayerSource,
    Override,
    RestrictionKind,
    RotationType,
    RotationUnit,
    Schedule,
    Weekday,
    validate_time_zone,
)
from oncall.models.teams import Team, TeamMembership, TeamRole

__all__ = [
    "CalendarFeed",
    "HandoffKind",
    "HandoffNotice",
    "Layer",
    "LayerParticipant",
    "LayerRestriction",
    "LayerSource",
    "Override",
    "RestrictionKind",
    "RotationType",
    "RotationUnit",
    "Schedule",
    "ShiftSwap",
    "SwapStatus",
    "Team",
    "TeamMembership",
    "TeamRole",
    "Weekday",
    "validate_time_zone",
]
