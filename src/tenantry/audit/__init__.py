"""The audit log: every change, refusal and failed sign-in."""
