"""params.yaml's schema: `checks` reads a section, and each section has its own module (see checks)."""
