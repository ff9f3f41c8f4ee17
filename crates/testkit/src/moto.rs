//! Launches `moto_server` (S3 + DynamoDB) on loopback.
