"""Sessions: sign-in, refresh-token rotation, logout, and the bearer check of every request."""
