"""Sample metrics as pure functions: images and values (samples), text, music."""
