"""``python -m percomp_ui`` is the ``percomp`` command."""
from .cli import main

raise SystemExit(main())
