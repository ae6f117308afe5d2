"""MirrorMaker 2: properties rendering (and, later, Connect REST, decoders, translation, lag)."""
