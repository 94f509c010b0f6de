"""`python -m facetui.cli`."""

from . import main

raise SystemExit(main())
