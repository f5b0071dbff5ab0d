"""Region of interest (seed 003 §2.2): sources → masks → latent scaling → stream."""
