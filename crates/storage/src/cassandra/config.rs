//! Configuration of the cassandra backend: Cortex's `storage.cassandra` section
//! (`-cassandra.*` flags), for what the backend implements.

use std::time::Duration;

use neocortex_core::duration::GoDuration;
use neocortex_core::secret::mask;
use neocortex_core::{ConfigOption, ConfigSection};

/// Settings of the cassandra backend (experimental).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CassandraConfig {
    /// Comma-separated hosts (or host:port) of Cassandra nodes.
    pub addresses: String,
    /// The CQL port of hosts given without one.
    pub port: u16,
    /// The keyspace holding every table.
    pub keyspace: String,
    /// Consistency level of every request (`QUORUM`, `ONE`, `LOCAL_QUORUM`, …).
    pub consistency: String,
    /// Replication factor of the keyspace when it is created.
    pub replication_factor: u32,
    /// Password authentication.
    pub auth: bool,
    /// User name of password authentication.
    pub username: String,
    /// Password of password authentication.
    pub password: String,
    /// File holding the password (instead of `password`).
    pub password_file: String,
    /// Timeout of each request.
    pub timeout: GoDuration,
    /// Timeout of establishing a connection.
    pub connect_timeout: GoDuration,
    /// Most requests in flight at once; 0 is unlimited.
    pub query_concurrency: usize,
    /// TCP connections per host.
    pub num_connections: usize,
    /// Text appended as `WITH <table_options>` to every CREATE TABLE.
    pub table_options: String,
}

impl Default for CassandraConfig {
    fn default() -> Self {
        Self {
            addresses: String::new(),
            port: 9042,
            keyspace: String::new(),
            consistency: "QUORUM".to_string(),
            replication_factor: 3,
            auth: false,
            username: String::new(),
            password: String::new(),
            password_file: String::new(),
            timeout: GoDuration(Duration::from_secs(2)),
            connect_timeout: GoDuration(Duration::from_secs(5)),
            query_concurrency: 0,
            num_connections: 2,
            table_options: String::new(),
        }
    }
}

const CASSANDRA_OPTIONS: &[ConfigOption] = &[
    ConfigOption {
        key: "addresses",
        flag: "cassandra.addresses",
        help: "Comma-separated hostnames or IPs of Cassandra instances.",
    },
    ConfigOption { key: "port", flag: "cassandra.port", help: "Port that Cassandra is running on." },
    ConfigOption { key: "keyspace", flag: "cassandra.keyspace", help: "Keyspace to use in Cassandra." },
    ConfigOption {
        key: "consistency",
        flag: "cassandra.consistency",
        help: "Consistency level for Cassandra: ANY, ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM, LOCAL_ONE.",
    },
    ConfigOption {
        key: "replication_factor",
        flag: "cassandra.replication-factor",
        help: "Replication factor of the keyspace when it is created.",
    },
    ConfigOption {
        key: "auth",
        flag: "cassandra.auth",
        help: "Enable password authentication when connecting to Cassandra.",
    },
    ConfigOption { key: "username", flag: "cassandra.username", help: "Username to use when connecting to Cassandra." },
    ConfigOption { key: "password", flag: "cassandra.password", help: "Password to use when connecting to Cassandra." },
    ConfigOption {
        key: "password_file",
        flag: "cassandra.password-file",
        help: "File containing the password to use when connecting to Cassandra.",
    },
    ConfigOption { key: "timeout", flag: "cassandra.timeout", help: "Timeout of each request to Cassandra." },
    ConfigOption {
        key: "connect_timeout",
        flag: "cassandra.connect-timeout",
        help: "Initial connection timeout, used during the initial dial to a server.",
    },
    ConfigOption {
        key: "query_concurrency",
        flag: "cassandra.query-concurrency",
        help: "Limit the number of concurrent queries to Cassandra; 0 disables the limit.",
    },
    ConfigOption {
        key: "num_connections",
        flag: "cassandra.num-connections",
        help: "Number of TCP connections per host.",
    },
    ConfigOption {
        key: "table_options",
        flag: "cassandra.table-options",
        help: "Table options used to create index or chunk tables, as plain text after WITH in CREATE TABLE.",
    },
];

/// Consistency level names, as gocql (and so Cortex) spells them.
pub const CONSISTENCY_LEVELS: &[&str] =
    &["ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE"];

/// Whether `name` can be used unquoted as a CQL keyspace or table name.
pub fn valid_identifier(name: &str) -> bool {
    (1..=48).contains(&name.len())
        && name.as_bytes()[0].is_ascii_alphabetic()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl ConfigSection for CassandraConfig {
    fn options() -> &'static [ConfigOption] {
        CASSANDRA_OPTIONS
    }

    /// Masks `password` (`password_file` is a path and stays readable).
    fn redacted(&self) -> Self {
        Self { password: mask(&self.password), ..self.clone() }
    }

    fn validate(&self) -> Result<(), String> {
        let consistency = self.consistency.to_ascii_uppercase();
        if !CONSISTENCY_LEVELS.contains(&consistency.as_str()) {
            return Err(format!(
                "storage.cassandra.consistency: unknown level {:?} (one of {})",
                self.consistency,
                CONSISTENCY_LEVELS.join(", ")
            ));
        }
        if self.port == 0 {
            return Err("storage.cassandra.port must not be 0".to_string());
        }
        if self.replication_factor == 0 {
            return Err("storage.cassandra.replication_factor must be at least 1".to_string());
        }
        if self.num_connections == 0 {
            return Err("storage.cassandra.num_connections must be at least 1".to_string());
        }
        if self.timeout.0.is_zero() || self.connect_timeout.0.is_zero() {
            return Err("storage.cassandra.timeout and connect_timeout must be above 0".to_string());
        }
        if !self.keyspace.is_empty() && !valid_identifier(&self.keyspace) {
            return Err(format!(
                "storage.cassandra.keyspace {:?}: a keyspace name is 1-48 letters, digits and _, starting with a letter",
                self.keyspace
            ));
        }
        if self.auth && self.username.is_empty() {
            return Err("storage.cassandra.auth is on but storage.cassandra.username is empty".to_string());
        }
        if !self.password.is_empty() && !self.password_file.is_empty() {
            return Err("storage.cassandra: set password or password_file, not both".to_string());
        }
        if self.table_options.contains(';') {
            return Err("storage.cassandra.table_options must not contain ';'".to_string());
        }
        Ok(())
    }
}

impl CassandraConfig {
    /// Checks what a connection needs beyond `validate`: nodes and a keyspace.
    pub fn validate_for_use(&self) -> Result<(), String> {
        self.validate()?;
        if self.nodes().is_empty() {
            return Err(
                "storage.cassandra.addresses (-cassandra.addresses) must name at least one host".to_string()
            );
        }
        if self.keyspace.is_empty() {
            return Err("storage.cassandra.keyspace (-cassandra.keyspace) must be set".to_string());
        }
        Ok(())
    }

    /// The nodes to contact: each address, with `port` added where it names none.
    pub fn nodes(&self) -> Vec<String> {
        self.addresses
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|address| {
                let has_port = match address.rsplit_once(':') {
                    // `[v6]:port` or `host:port`; a bare IPv6 address has several colons.
                    Some((host, port)) => {
                        port.parse::<u16>().is_ok() && (host.ends_with(']') || !host.contains(':'))
                    }
                    None => false,
                };
                if has_port {
                    address.to_string()
                } else if address.contains(':') && !address.starts_with('[') {
                    format!("[{address}]:{}", self.port)
                } else {
                    format!("{address}:{}", self.port)
                }
            })
            .collect()
    }

    /// The password: `password`, or the trimmed contents of `password_file`.
    pub fn resolved_password(&self) -> Result<String, String> {
        if self.password_file.is_empty() {
            return Ok(self.password.clone());
        }
        std::fs::read_to_string(&self.password_file)
            .map(|text| text.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|err| format!("storage.cassandra.password_file {}: {err}", self.password_file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_cortex_defaults() {
        let config = CassandraConfig::default();
        assert_eq!((config.port, config.replication_factor, config.num_connections), (9042, 3, 2));
        assert_eq!(config.consistency, "QUORUM");
        assert_eq!(config.timeout.to_string(), "2s");
        assert_eq!(config.connect_timeout.to_string(), "5s");
        assert!(config.validate().is_ok(), "an unused section is valid");
        assert!(config.validate_for_use().unwrap_err().contains("addresses"));
    }

    #[test]
    fn options_table_names_every_key() {
        let json = serde_json::to_value(CassandraConfig::default()).unwrap();
        for option in CassandraConfig::options() {
            assert!(json.get(option.key).is_some(), "option {} missing in struct", option.key);
        }
    }

    #[test]
    fn yaml_and_nodes() {
        let yaml = "addresses: 'cass-1, cass-2:9142,10.0.0.3,::1,[::2]:9000'\nkeyspace: cortex\nconsistency: local_quorum\n";
        let config: CassandraConfig = serde_norway::from_str(yaml).unwrap();
        assert!(config.validate_for_use().is_ok());
        assert_eq!(
            config.nodes(),
            ["cass-1:9042", "cass-2:9142", "10.0.0.3:9042", "[::1]:9042", "[::2]:9000"]
        );
        assert!(serde_norway::from_str::<CassandraConfig>("hosts: x").is_err(), "unknown keys are refused");
    }

    #[test]
    fn bad_values_are_named() {
        let bad = |config: CassandraConfig| config.validate().unwrap_err();
        let base = CassandraConfig { addresses: "h".into(), keyspace: "cortex".into(), ..Default::default() };
        assert!(bad(CassandraConfig { consistency: "MOST".into(), ..base.clone() }).contains("consistency"));
        assert!(bad(CassandraConfig { keyspace: "my-ks".into(), ..base.clone() }).contains("keyspace"));
        assert!(bad(CassandraConfig { replication_factor: 0, ..base.clone() }).contains("replication_factor"));
        assert!(bad(CassandraConfig { auth: true, ..base.clone() }).contains("username"));
        assert!(bad(CassandraConfig { table_options: "x; DROP".into(), ..base.clone() })
            .contains("table_options"));
        assert!(bad(CassandraConfig { num_connections: 0, ..base.clone() }).contains("num_connections"));
        let both = CassandraConfig { password: "a".into(), password_file: "/f".into(), ..base.clone() };
        assert!(bad(both).contains("not both"));
        assert!(CassandraConfig { keyspace: String::new(), ..base.clone() }
            .validate_for_use()
            .unwrap_err()
            .contains("keyspace"));
        let missing = CassandraConfig { password_file: "/nonexistent/pw".into(), ..base };
        assert!(missing.resolved_password().unwrap_err().contains("password_file"));
    }
}
