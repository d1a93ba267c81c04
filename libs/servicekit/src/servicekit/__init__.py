"""servicekit: the parts every relic-rebirth service is built from.

One concern per module:

- settings      ServiceSettings from the environment (pydantic-settings)
- mongo         AsyncMongoClient (PyMongo's async API) and a ping
- envelope      CloudEvents 1.0 in Kafka binary mode (ce_ headers)
- outbox        events written in the same single-document update as the state
- relay         publishes pending outbox events, in order, while Kafka is up
- bus           the idempotent Kafka producer (Publisher)
- consumer      batch consumer: retries, dead letters, manual commits
- idempotency   effects applied exactly once (event-id keys, high-water marks)
- errors        the error tree every service raises (no HTTP codes)
- problems      RFC 9457 problem+json rendering of every error
- auth          JWT bearer tokens, roles and FastAPI dependencies
- tracing       W3C traceparent from HTTP into Kafka and on into consumers
- logs          JSON log lines carrying the traceparent
- metrics       Prometheus metrics
- app           the FastAPI app factory: lifespan, /healthz, /readyz, /metrics
"""
