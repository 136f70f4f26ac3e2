"""addin_manifest package."""
