"""crmgate's connector: the governed write path, the trail, rollback, approvals and the CLI."""
from connector.config import Config, load_config
from connector.errors import ApprovalError, ConfigError, CrmgateError, ProposalError, RollbackError
from connector.gate import Gate
from connector.outcome import Outcome
from connector.rollback import RollbackReport

__all__ = [
    "ApprovalError",
    "Config",
    "ConfigError",
    "CrmgateError",
    "Gate",
    "Outcome",
    "ProposalError",
    "RollbackError",
    "RollbackReport",
    "load_config",
]
