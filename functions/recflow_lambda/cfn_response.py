"""CloudFormation custom resource adapter: answer a request by PUTting to its pre-signed ResponseURL."""

import json
import urllib.request

from recflow_lambda.models import CustomResourceResponse

# CloudFormation rejects response bodies over 4096 bytes; the reason is the only unbounded field.
_MAX_REASON = 1500
_TIMEOUT_SECONDS = 30


def send(response_url: str, response: CustomResourceResponse) -> None:
    """PUT ``response``; raise when CloudFormation's endpoint does not accept it."""
    response = response.model_copy(update={"Reason": response.Reason[:_MAX_REASON]})
    body = json.dumps(response.model_dump()).encode()
    # The URL is pre-signed without a content type: sending one would break the signature.
    request = urllib.request.Request(
        response_url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as answer:
        answer.read()
