"""The knowledge API as a background service (`make api`, `gglake knowledge start|stop`, the tests).

One uvicorn process on 127.0.0.1 (GGLAKE_KNOWLEDGE_PORT, default 8600), its PID and log under var/run/,
stopped by its process group. It reads the index folder of the lakehouse it was started for.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gglake.deployment import PROJECT_ROOT, _stop_groups, running_pid, spawn, wait_for_url

NAME = "knowledge-api"


@dataclass
class KnowledgeApi:
    index_root: Path
    port: int = int(os.environ.get("GGLAKE_KNOWLEDGE_PORT", "8600"))
    var: Path = PROJECT_ROOT / "var"
    env_overrides: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def run_dir(self) -> Path:
        return self.var / "run"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{NAME}.log"

    def pid(self) -> int | None:
        return running_pid(self.run_dir / f"{NAME}.pid")

    def start(self, timeout: float = 60) -> None:
        """Start the API unless it runs; return once /healthz answers (200, or 503 while no index is built)."""
        command = [str(Path(sys.executable).parent / "gglake"), "knowledge", "serve", "--host", "127.0.0.1",
                   "--port", str(self.port)]  # fmt: skip
        env = {**os.environ, "GGLAKE_KNOWLEDGE_INDEX": str(self.index_root), **self.env_overrides}
        spawn(self.run_dir, NAME, command, env, PROJECT_ROOT)
        wait_for_url(f"{self.url}/healthz", lambda status, body: status in (200, 503), timeout, self.log_file)

    def stop(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        _stop_groups([pid])
        (self.run_dir / f"{NAME}.pid").unlink(missing_ok=True)
        return True
