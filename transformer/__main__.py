"""`python -m transformer ...` runs the console command (see transformer/cli.py)."""
from .cli import main

raise SystemExit(main())
