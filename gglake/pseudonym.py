"""Resident pseudonyms: a keyed HMAC of the registry's resident id.

Without the key nobody can recompute or reverse a resident_key, yet the same resident always gets
the same key, so silver, gold and features join on it. The mapping id → key is kept only in the
restricted registry table; the key material never leaves this process (it is not sent to the
engine in SQL).
"""

from __future__ import annotations

import hashlib
import hmac


def resident_key(key: bytes, resident_id: str) -> str:
    """128-bit HMAC-SHA256 pseudonym, hex encoded."""
    return hmac.new(key, resident_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
