"""The app package Microsoft 365 installs: the unified manifest plus its two package icons.

The unified manifest names its main icons by relative path, so the JSON alone cannot be
uploaded; the zip is. Entries get a fixed timestamp so the same deployment always produces
the same bytes (a changed package then means a changed add-in).
"""

from __future__ import annotations

import io
import json
import zipfile

from addin_manifest.addin import PACKAGE_COLOR_ICON, PACKAGE_OUTLINE_ICON
from addin_manifest.config import AddinConfig
from addin_manifest.icons import STATIC_DIR
from addin_manifest.json_manifest import build_json_manifest

MANIFEST_FILE = "manifest.json"
_FIXED_TIME = (2024, 1, 1, 0, 0, 0)


def manifest_json_text(cfg: AddinConfig) -> str:
    return json.dumps(build_json_manifest(cfg), indent=2, ensure_ascii=False) + "\n"


def build_app_package(cfg: AddinConfig) -> bytes:
    entries = {
        MANIFEST_FILE: manifest_json_text(cfg).encode("utf-8"),
        PACKAGE_COLOR_ICON: (STATIC_DIR / "assets" / PACKAGE_COLOR_ICON).read_bytes(),
        PACKAGE_OUTLINE_ICON: (STATIC_DIR / "assets" / PACKAGE_OUTLINE_ICON).read_bytes(),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()
