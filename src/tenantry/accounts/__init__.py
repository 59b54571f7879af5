"""Accounts: users, sign-up, email verification, password change and reset."""
