"""``python -m crmgate.doors.api``: print the OpenAPI document (the committed ``docs/openapi.json``)."""
import json

from crmgate.doors.api.app import openapi_document

print(json.dumps(openapi_document(), indent=2, sort_keys=True))
