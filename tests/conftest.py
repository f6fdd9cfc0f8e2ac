"""Suite-wide set-up: every test process (and every server or CLI it starts) uses its own throwaway data directory
for the embedded GeoPackage store, never the user's ``~/.local/share/kfqmap``."""
from __future__ import annotations

import os
import tempfile

if "KFQMAP_DATA_DIR" not in os.environ or not os.environ.get("KFQMAP_TEST_KEEP_DATA_DIR"):
    os.environ["KFQMAP_DATA_DIR"] = tempfile.mkdtemp(prefix="kfqmap-test-data-")
