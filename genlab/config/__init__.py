"""The params: the base types (schema), the shared sections (sections), the composed params.yaml (params) and the documents generated from them (docs)."""
