"""AWS Lambda code of recflow: the tasks of the pipeline state machine and the solution custom resource.

Handlers (``recflow_lambda.handlers.<module>.handler``) only wire: they parse the event into a model from
``models``, call one domain function and return a model dump. boto3 lives in the adapters
(``personalize``, ``storage``, ``notify``, ``workflow``, ``cfn_response``) built on ``clients``.
"""
