"""crmgate: the governed door between AI workflows and a CRM. Start with ``from crmgate import Gate``.

One subpackage per stage (ARCHITECTURE.md draws them): ``rules`` and ``adapters`` import nothing else of
crmgate; ``trail`` and the kernel sit above them, then ``decide``, ``writes``, ``approvals``,
``rollback``, ``audit``, :class:`Gate`, and ``doors``, which alone may import everything."""
import structlog as _structlog

if not _structlog.is_configured():
    # A library must not print to its caller's stdout: unless the application configured structlog,
    # hand our events to the standard logging module (silent by default, warnings to stderr).
    _structlog.configure(logger_factory=_structlog.stdlib.LoggerFactory(),
                         wrapper_class=_structlog.stdlib.BoundLogger,
                         processors=[_structlog.stdlib.render_to_log_kwargs])
from crmgate.config import Config, load_config
from crmgate.errors import ApprovalError, ConfigError, CrmgateError, ProposalError, RollbackError
from crmgate.gate import Gate
from crmgate.rollback.run import RollbackReport
from crmgate.writes.outcome import Outcome

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
