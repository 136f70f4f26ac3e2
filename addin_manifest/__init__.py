"""The Office add-in for Outlook: manifests (add-in-only XML and unified JSON) and its static
files (function file and task pane entry). No secrets and no host here: every URL comes from
the base URL a deployment passes in.
"""

from addin_manifest.config import AddinConfig, ManifestConfigError
from addin_manifest.json_manifest import build_json_manifest
from addin_manifest.xml_manifest import build_xml_manifest

__all__ = ["AddinConfig", "ManifestConfigError", "build_json_manifest", "build_xml_manifest"]
