"""The DynamoDB single-table store (`store/dynamo/`), chosen by
`TENANTRY_DATABASE_URL=dynamodb://TABLE?region=REGION`: the table and its indexes (`table.py`),
every key (`keys.py`), strongly consistent reads (`reads.py`), the unit of work's writes
committed as one `TransactWriteItems` (`writes.py`), and a repository module per port, as on
the SQL and memory stores. docs/aws.md describes the design."""
