"""Property-based tests of the API against its own OpenAPI document (schemathesis, in-process ASGI).

Every operation in ``/api`` gets a bounded number of generated requests (``MAX_EXAMPLES``, derandomised so a
run is repeatable); each response must not be a 5xx, must have a status the document declares for that
operation, and a body that matches the declared schema. This is what keeps ``/api`` honest.
"""
from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from kfqmap.settings import CatalogSettings
from server.app import create_app
from server.settings import APISettings
from server.testing import MINI_GEODATA

#: generated requests per operation (about 60 operations with HEAD: about a minute in all)
MAX_EXAMPLES = 6


def _schema():
    app = create_app(APISettings(catalog=CatalogSettings(geodata_dir=MINI_GEODATA, extra_layers=""),
                                 warm_up=False, export_queue=8))
    return schemathesis.openapi.from_asgi("/api", app)


# built when the module is collected (schemathesis' lazy ``from_fixture`` does not work with this pytest)
schema = _schema()


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_matches_its_document(case):
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, response_schema_conformance])
