"""The revenue layer: managed views, deferral, MRR, metrics and customer linkage."""
