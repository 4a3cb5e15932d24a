"""crmgate rules: the rulebook, proposal validation, risk tiering, routing and the decision.

Pure functions of (proposal, record, rulebook). Imports nothing of crmgate outside ``crmgate.rules``.
"""
from crmgate.rules.conditions import matches
from crmgate.rules.decision import Decision, FieldChange, compute_changes, decide
from crmgate.rules.loader import RulebookError, RulebookProblem, load_rulebook, parse_rulebook
from crmgate.rules.proposal import Op, Proposal
from crmgate.rules.risk import RiskAssessment, RiskMatch, assess_risk
from crmgate.rules.schema import TIERS, Rulebook
from crmgate.rules.usecases import resolve_use_case
from crmgate.rules.validation import validate
from crmgate.rules.violations import Code, Violation

__all__ = [
    "Code", "Decision", "FieldChange", "Op", "Proposal", "RiskAssessment", "RiskMatch", "Rulebook",
    "RulebookError", "RulebookProblem", "TIERS", "Violation", "assess_risk", "compute_changes",
    "decide", "load_rulebook", "matches", "parse_rulebook", "resolve_use_case", "validate",
]
