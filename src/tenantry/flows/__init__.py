"""The only code that spans transactions: register-then-provision, the provisioning saga, and
outbox dispatch. HTTP, CLI and Lambda each call one flow function."""
