"""`python -m bench [--quick] [--only PART] ...`: what `cnilab bench` runs."""

from .main import cli

raise SystemExit(cli())
