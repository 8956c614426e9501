"""Property-based testing of the live API from its own OpenAPI document: schemathesis
generates valid and invalid requests for every operation. Every check runs: no 5xx,
status codes and content types as documented, valid data accepted, invalid data
rejected, 405 for undeclared methods."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lockgate.serving import BackgroundServer


def test_no_server_errors_on_generated_requests(server: BackgroundServer,
                                                tmp_path: Path) -> None:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    done = subprocess.run(
        [str(schemathesis), "run", f"{server.url}/openapi.json",
         "--checks", "all",
         "--phases", "examples,coverage,fuzzing", "--max-examples", "40", "--workers", "1",
         "--seed", "1", "--request-timeout", "30", "--suppress-health-check", "all",
         "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Tested: 5" in done.stdout
    assert "passed" in done.stdout and "failure" not in done.stdout.split("SUMMARY")[-1]
