//! Launches Azurite (npm `azurite`, Blob service) on loopback.
