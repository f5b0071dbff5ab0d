"""Neural-network parts of the codec: gain units, latent codecs and full models."""
