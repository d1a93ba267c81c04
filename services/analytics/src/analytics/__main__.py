"""`python -m analytics replay`."""

from analytics.cli import main

main()
