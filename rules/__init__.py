"""crmgate rules: the rulebook, proposal validation, risk tiering and the apply/queue/reject decision.

Everything here is pure and never imports ``connector`` or ``adapters``.
"""
from rules.conditions import matches
from rules.decision import Decision, FieldChange, compute_changes, decide
from rules.loader import RulebookError, RulebookProblem, load_rulebook, parse_rulebook
from rules.proposal import Op, Proposal
from rules.risk import RiskAssessment, RiskMatch, assess_risk
from rules.schema import TIERS, Rulebook
from rules.usecases import resolve_use_case
from rules.validation import validate
from rules.violations import Code, Violation

__all__ = [
    "Code", "Decision", "FieldChange", "Op", "Proposal", "RiskAssessment", "RiskMatch", "Rulebook",
    "RulebookError", "RulebookProblem", "TIERS", "Violation", "assess_risk", "compute_changes",
    "decide", "load_rulebook", "matches", "parse_rulebook", "resolve_use_case", "validate",
]
