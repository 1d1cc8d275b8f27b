"""What a model is made of: Model and its steps, Record states, footprints, loading a model file, state encodings, the weak-memory library."""
