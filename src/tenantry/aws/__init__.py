"""tenantry on AWS Lambda: the API Gateway authorizer (`authorizer.handler`), the HTTP API
(`api.handler`, FastAPI through Mangum) and the scheduled background work (`outbox.handler`).
Each handler is an edge with no logic of its own; each builds its tenantry once per container
and keeps it warm. Needs the `aws` extra (`pip install 'tenantry[aws]'`); docs/aws.md."""
