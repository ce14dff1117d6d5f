"""The lab's stand-in for the Selfology services: real programs, small enough to read."""
