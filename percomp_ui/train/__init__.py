"""Training: data, losses and the resumable trainer behind ``percomp train``."""
