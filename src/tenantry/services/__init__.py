"""Use cases. Each takes a unit of work and other ports; none commits."""
