"""crmgate's connector: the governed write path, the trail, rollback, approvals and the CLI."""
import structlog as _structlog

if not _structlog.is_configured():
    # A library must not print to its caller's stdout: unless the application configured structlog,
    # hand our events to the standard logging module (silent by default, warnings to stderr).
    _structlog.configure(logger_factory=_structlog.stdlib.LoggerFactory(),
                         wrapper_class=_structlog.stdlib.BoundLogger,
                         processors=[_structlog.stdlib.render_to_log_kwargs])
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
