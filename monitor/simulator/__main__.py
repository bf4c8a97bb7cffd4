"""``python -m monitor.simulator``: serve the simulator until interrupted."""

from __future__ import annotations

from monitor.simulator.standalone import main

raise SystemExit(main())
