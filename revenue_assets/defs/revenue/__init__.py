"""The revenue layer (DESIGN §5): managed views, deferral, MRR, metrics and customer linkage."""
