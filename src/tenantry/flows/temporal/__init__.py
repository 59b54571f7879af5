"""Provisioning on Temporal (`TENANTRY_WORKFLOWS=temporal`): the workflow, its activities, the
engine that starts it and the worker that runs it. Needs the `temporal` extra."""
