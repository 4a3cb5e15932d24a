"""Bad input never gives a traceback and never writes: the CLI and the Python API (hypothesis,
5,000 inputs each), and the named cases of issue 13."""
from __future__ import annotations

import json
import math
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmgate.doors.cli import cli
from crmgate.errors import ProposalError
from tests.connector.conftest import lead

FUZZ = settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

_not_json = st.one_of(st.binary(max_size=8), st.sets(st.integers(), max_size=2), st.builds(object),
                      st.just(math.nan), st.just(math.inf), st.complex_numbers(max_magnitude=5),
                      st.datetimes(), st.builds(lambda n: _deep(n), st.integers(65, 3000)))
_bad_text = st.one_of(
    st.binary(max_size=200),
    st.integers(65, 200_000).map(lambda n: ("[" * n).encode()),
    st.integers(65, 5_000).map(lambda n: ('{"a":' * n + "1" + "}" * n).encode()),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3).map(lambda d: json.dumps(d).encode()),
)


def _deep(n: int) -> list:
    value: list = []
    for _ in range(n):
        value = [value]
    return value


@FUZZ
@given(body=_bad_text)
def test_cli_propose_refuses_malformed_input_with_exit_2(run, body):
    """Random bytes, non-UTF-8, 200,000-deep arrays, objects that are not proposals: exit 2 and one
    JSON error on stderr; never a traceback."""
    result = CliRunner().invoke(cli, ["--config", str(run.project / "crmgate.yaml"), "propose"], input=body)
    assert result.exit_code == 2, (body[:80], result.output, result.exception)
    assert "error" in json.loads(result.stderr)


@FUZZ
@given(value=_not_json, where=st.sampled_from(["fields", "inputs", "reasons"]))
def test_python_api_refuses_values_json_cannot_carry(gate, sandbox, value, where):
    """bytes, sets, objects, NaN, complex, datetimes, 3,000-deep lists as values: ProposalError, and
    nothing is decided, recorded or written."""
    proposal = lead()
    if where == "fields":
        proposal["fields"]["Company"] = value
    elif where == "inputs":
        proposal["inputs"] = {"source": value}
    else:
        proposal["reasons"] = [value]
    calls = len(sandbox.calls)
    with pytest.raises(ProposalError):
        gate.propose(proposal)
    assert gate.store.count() == 0 and len(sandbox.calls) == calls


def test_a_nul_byte_in_the_rulebook_is_a_structured_error(run):
    """Every command that loads the rulebook says what is wrong with it, exit 2."""
    rules = run.project / "rules.yaml"
    rules.write_text(rules.read_text() + "\x00\n")
    result = run("propose", input=json.dumps(lead()), code=2)
    assert "special characters" in result.stderr


def test_an_over_long_crm_path_is_a_config_error(run):
    """crm.path longer than the OS allows: invalid_config, exit 2."""
    config = run.project / "crmgate.yaml"
    config.write_text(config.read_text().replace("path: sandbox.db", "path: " + "a" * 5000))
    result = run("propose", input=json.dumps(lead()), code=2)
    assert json.loads(result.stderr)["error"]["code"] == "invalid_config"


def test_a_proposal_object_with_bytes_is_refused(gate):
    """A Proposal built by hand is checked too."""
    from crmgate.rules.proposal import Proposal

    with pytest.raises(ProposalError, match="bytes is not a JSON value"):
        gate.propose(Proposal(object="Lead", op="create", actor="ai:lead-intake-1",
                              fields={"LastName": b"Ng", "Company": "Initech"}))
