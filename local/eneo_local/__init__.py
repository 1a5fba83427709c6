"""The local stack: template.yaml hosted on one machine, with AWS's wire shapes.

services.py     embedded Postgres+pgvector, Redis, moto (S3/SQS/EventBridge)
s3_post_policy.py  moto answering only signed requests and presigned POSTs whose policy holds (size, type, key, ...)
sigv4.py        the SigV4 check of the AWS-shaped endpoints (S3/SQS, @connections, Lambda Invoke)
template.py     reads the SAM template into typed specs (intrinsics.py evaluates !Ref, !Sub, ...)
parameters.py   the parameter values and secrets the stack supplies
s3_mirror.py    the template's buckets, and their objects kept on disk across restarts
runtime.py      inside a worker process: a small Lambda runtime for one function
workers.py      warm worker pools per function: scaling, timeouts, crashes, Lambda's limits
routes.py       API Gateway HTTP API route selection
http_events.py  payload v2.0 events and response mapping
gateway.py      the HTTP API itself (ASGI under uvicorn): CORS, limits, request ids, access log
websocket.py    the WebSocket API (its own port): $connect/$disconnect/routes, and @connections
lambda_api.py   the Lambda Invoke API (its own port): sync, async with Lambda's retries, dry runs
bootstrap.py    the first tenant and admin, and the login instructions
stack.py        everything started in order and stopped in reverse
cli.py          `eneo-local up`
faas.py         one function as a plain HTTP server: the entry point of the OpenFaaS images (infra/openfaas)
"""
