"""The DynamoDB single-table store (`store/dynamo/`), in progress: the table, its keys, the
unit of work that commits a use case's writes as one `TransactWriteItems`, and the
repositories built so far: users, organisations, memberships, sessions, one-time and refresh
tokens, signing keys, jobs, identity links. Still to come: roles, role assignments, teams,
team memberships, invitations, the outbox and the audit log. It is not yet selectable through
`TENANTRY_DATABASE_URL`: that comes when it implements every port of `unit_of_work.py`."""
