"""Icons and other files the GUI ships (SVG icons in icons/)."""
