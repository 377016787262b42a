"""Escalation data: policies people configure, and the per-incident state the engine keeps."""

from escalation.models.policies import (
    MAX_DELAY_MINUTES,
    MAX_REPEATS,
    MAX_STEPS,
    MAX_TARGETS_PER_STEP,
    EscalationPolicy,
    EscalationStep,
    ServiceEscalation,
    SlaTarget,
)
from escalation.models.state import AuditFinding, EscalationState, EscalationStatus, SlaClock

__all__ = [
    "MAX_DELAY_MINUTES",
    "MAX_REPEATS",
    "MAX_STEPS",
    "MAX_TARGETS_PER_STEP",
    "AuditFinding",
    "EscalationPolicy",
    "EscalationState",
    "EscalationStatus",
    "EscalationStep",
    "ServiceEscalation",
    "SlaClock",
    "SlaTarget",
]
