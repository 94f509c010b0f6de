"""Plain helpers the tests share (fixtures live in the conftest.py files): ``helpers`` (the repo and demo paths,
the demo's labels, workspace makers, a generator drain), ``corpus`` (awkward and broken image files made at test
time), ``cli_runs`` (the real CLI in a subprocess, its processes, exact snapshots of folders) and ``tui`` (the Pilot
tests' app, waits and screen readers). Tests import them as ``from support.helpers import ...``; pytest puts
``tests/`` on the path (``pythonpath`` in pyproject.toml)."""
