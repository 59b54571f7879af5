"""`python -m tenantry.cli`, as the console script runs it."""

from tenantry.cli import main

if __name__ == "__main__":
    main()
