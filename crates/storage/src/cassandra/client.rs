//! The cassandra clients over one `scylla` driver session: `IndexClient` (rows of Cortex's
//! `(hash, range, value)` tables), `ObjectClient` (chunk objects in the `chunks` table) and
//! `TableClient` (CREATE / DROP TABLE, tables of the keyspace). Experimental: never run against a
//! real server here.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use parking_lot::Mutex;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::client::PoolSize;
use scylla::frame::types::Consistency;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Statement;
use tokio::sync::Semaphore;

use crate::cassandra::config::CassandraConfig;
use crate::cassandra::cql;
use crate::error::StorageError;
use crate::index::IndexClient;
use crate::object::{key_under_prefix, ObjectClient};
use crate::schema::entries::{IndexEntry, IndexQuery, IndexRow};
use crate::table_client::{TableClient, TableDesc};

const BACKEND: &str = "cassandra";

/// Requests in flight for one call when `query_concurrency` is 0 (unlimited).
const DEFAULT_CALL_CONCURRENCY: usize = 32;

fn cassandra_error(error: impl std::fmt::Display) -> StorageError {
    StorageError::backend(BACKEND, error)
}

/// Whether a failure says the table does not exist.
fn is_missing_table(error: &impl std::fmt::Display) -> bool {
    error.to_string().to_ascii_lowercase().contains("unconfigured table")
}

/// The driver's consistency level of a gocql-style name (validated by the config).
pub fn consistency_of(name: &str) -> Result<Consistency, StorageError> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "ANY" => Consistency::Any,
        "ONE" => Consistency::One,
        "TWO" => Consistency::Two,
        "THREE" => Consistency::Three,
        "QUORUM" => Consistency::Quorum,
        "ALL" => Consistency::All,
        "LOCAL_QUORUM" => Consistency::LocalQuorum,
        "EACH_QUORUM" => Consistency::EachQuorum,
        "LOCAL_ONE" => Consistency::LocalOne,
        other => {
            return Err(StorageError::Config(format!(
                "storage.cassandra.consistency: unknown level {other:?}"
            )))
        }
    })
}

/// A session to a Cassandra cluster and the keyspace every table lives in.
pub struct CassandraClient {
    session: Session,
    keyspace: String,
    table_options: String,
    limit: Option<Arc<Semaphore>>,
    call_concurrency: usize,
    prepared: Mutex<HashMap<String, PreparedStatement>>,
    known_tables: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for CassandraClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CassandraClient").field("keyspace", &self.keyspace).finish_non_exhaustive()
    }
}

impl CassandraClient {
    /// Connects to `config.addresses` (failing within `connect_timeout` when no node answers),
    /// creates the keyspace if missing, and the chunks table.
    pub async fn connect(config: &CassandraConfig) -> Result<Self, StorageError> {
        config.validate_for_use().map_err(StorageError::Config)?;
        let consistency = consistency_of(&config.consistency)?;
        let profile = ExecutionProfile::builder()
            .consistency(consistency)
            .request_timeout(Some(config.timeout.0))
            .build();
        let connections = NonZeroUsize::new(config.num_connections).unwrap_or(NonZeroUsize::MIN);
        let nodes = config.nodes();
        let mut builder = SessionBuilder::new()
            .known_nodes(&nodes)
            .connection_timeout(config.connect_timeout.0)
            .pool_size(PoolSize::PerHost(connections))
            .default_execution_profile_handle(profile.into_handle());
        if config.auth {
            let password = config.resolved_password().map_err(StorageError::Config)?;
            builder = builder.user(config.username.clone(), password);
        }
        // The driver bounds each dial by connect_timeout; the outer bound also covers metadata
        // fetches against a node that accepts but never answers.
        let deadline = config.connect_timeout.0 * 2 + Duration::from_secs(1);
        let session = match tokio::time::timeout(deadline, builder.build()).await {
            Ok(Ok(session)) => session,
            Ok(Err(err)) => {
                return Err(cassandra_error(format!("cannot connect to {}: {err}", nodes.join(","))));
            }
            Err(_) => {
                return Err(cassandra_error(format!(
                    "cannot connect to {}: no answer within {deadline:?}",
                    nodes.join(",")
                )));
            }
        };
        let client = Self {
            session,
            keyspace: config.keyspace.clone(),
            table_options: config.table_options.clone(),
            limit: (config.query_concurrency > 0).then(|| Arc::new(Semaphore::new(config.query_concurrency))),
            call_concurrency: if config.query_concurrency > 0 {
                config.query_concurrency
            } else {
                DEFAULT_CALL_CONCURRENCY
            },
            prepared: Mutex::new(HashMap::new()),
            known_tables: Mutex::new(HashSet::new()),
        };
        let keyspace = cql::create_keyspace(&config.keyspace, config.replication_factor)?;
        client.run_ddl(keyspace).await?;
        client.ensure_table(cql::CHUNKS_TABLE).await?;
        Ok(client)
    }

    async fn permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        match &self.limit {
            Some(limit) => Arc::clone(limit).acquire_owned().await.ok(),
            None => None,
        }
    }

    async fn run_ddl(&self, statement: String) -> Result<(), StorageError> {
        let _permit = self.permit().await;
        self.session.query_unpaged(Statement::new(statement), ()).await.map_err(cassandra_error)?;
        Ok(())
    }

    /// The prepared form of `cql`, prepared once per session.
    async fn prepare(&self, statement: &str) -> Result<PreparedStatement, StorageError> {
        if let Some(prepared) = self.prepared.lock().get(statement) {
            return Ok(prepared.clone());
        }
        let prepared = self.session.prepare(statement.to_string()).await.map_err(cassandra_error)?;
        self.prepared.lock().insert(statement.to_string(), prepared.clone());
        Ok(prepared)
    }

    /// Creates `table` once per process (CREATE TABLE IF NOT EXISTS).
    async fn ensure_table(&self, table: &str) -> Result<(), StorageError> {
        if self.known_tables.lock().contains(table) {
            return Ok(());
        }
        self.run_ddl(cql::create_table(&self.keyspace, table, &self.table_options)?).await?;
        self.known_tables.lock().insert(table.to_string());
        Ok(())
    }

    async fn write_row(&self, entry: IndexEntry) -> Result<(), StorageError> {
        let prepared = self.prepare(&cql::insert(&self.keyspace, &entry.table)?).await?;
        let _permit = self.permit().await;
        self.session
            .execute_unpaged(&prepared, (entry.hash_value, entry.range_value, entry.value))
            .await
            .map_err(cassandra_error)?;
        Ok(())
    }

    async fn query_one(&self, query: IndexQuery) -> Result<Vec<IndexRow>, StorageError> {
        let plan = cql::select_rows(&self.keyspace, &query)?;
        let prepared = match self.prepare(&plan.cql).await {
            Ok(prepared) => prepared,
            // Preparing against a missing table fails: such a table has no rows.
            Err(err) if is_missing_table(&err) => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        let hash = query.hash_value.clone();
        let _permit = self.permit().await;
        let pager = match (plan.lower, plan.upper) {
            (None, None) => self.session.execute_iter(prepared, (hash,)).await,
            (Some(lower), None) => self.session.execute_iter(prepared, (hash, lower)).await,
            (None, Some(upper)) => self.session.execute_iter(prepared, (hash, upper)).await,
            (Some(lower), Some(upper)) => self.session.execute_iter(prepared, (hash, lower, upper)).await,
        };
        let pager = match pager {
            Ok(pager) => pager,
            Err(err) if is_missing_table(&err) => return Ok(Vec::new()),
            Err(err) => return Err(cassandra_error(err)),
        };
        let mut stream = pager.rows_stream::<(Vec<u8>, Option<Vec<u8>>)>().map_err(cassandra_error)?;
        let mut rows = Vec::new();
        while let Some(row) = stream.next().await {
            let (range_value, value) = row.map_err(cassandra_error)?;
            let value = value.unwrap_or_default();
            if query.accepts(&range_value, &value) {
                rows.push(IndexRow { range_value, value });
            }
        }
        Ok(rows)
    }

    async fn table_names(&self) -> Result<Vec<String>, StorageError> {
        let _permit = self.permit().await;
        let pager = self
            .session
            .query_iter(Statement::new(cql::LIST_TABLES), (self.keyspace.clone(),))
            .await
            .map_err(cassandra_error)?;
        let mut names: Vec<String> = pager
            .rows_stream::<(String,)>()
            .map_err(cassandra_error)?
            .map_ok(|(name,)| name)
            .try_collect()
            .await
            .map_err(cassandra_error)?;
        // The chunks table is the object store's, not a periodic index table.
        names.retain(|name| name != cql::CHUNKS_TABLE);
        names.sort();
        Ok(names)
    }

    async fn drop_table(&self, name: &str) -> Result<(), StorageError> {
        self.run_ddl(cql::drop_table(&self.keyspace, name)?).await?;
        self.known_tables.lock().remove(name);
        let prefix = format!(" {}.{name} ", self.keyspace);
        self.prepared.lock().retain(|statement, _| !format!("{statement} ").contains(&prefix));
        Ok(())
    }
}

#[async_trait]
impl IndexClient for CassandraClient {
    async fn batch_write(&self, entries: Vec<IndexEntry>) -> Result<(), StorageError> {
        let tables: HashSet<String> = entries.iter().map(|e| e.table.clone()).collect();
        for table in &tables {
            self.ensure_table(table).await?;
        }
        futures::stream::iter(entries.into_iter().map(|entry| self.write_row(entry)))
            .buffer_unordered(self.call_concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn query(&self, queries: Vec<IndexQuery>) -> Result<Vec<Vec<IndexRow>>, StorageError> {
        futures::stream::iter(queries.into_iter().map(|query| self.query_one(query)))
            .buffered(self.call_concurrency)
            .try_collect()
            .await
    }

    async fn create_table(&self, name: &str) -> Result<(), StorageError> {
        self.ensure_table(name).await
    }

    async fn delete_table(&self, name: &str) -> Result<(), StorageError> {
        self.drop_table(name).await
    }

    async fn list_tables(&self) -> Result<Vec<String>, StorageError> {
        self.table_names().await
    }

    fn table_client(self: Arc<Self>) -> Option<Arc<dyn TableClient>> {
        Some(self)
    }
}

#[async_trait]
impl ObjectClient for CassandraClient {
    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        let entry = IndexEntry {
            table: cql::CHUNKS_TABLE.to_string(),
            hash_value: key.to_string(),
            range_value: cql::CHUNK_RANGE.to_vec(),
            value: data.to_vec(),
        };
        self.write_row(entry).await
    }

    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let prepared = self.prepare(&cql::select_chunk(&self.keyspace)?).await?;
        let _permit = self.permit().await;
        let result = self.session.execute_unpaged(&prepared, (key,)).await.map_err(cassandra_error)?;
        let rows = result.into_rows_result().map_err(cassandra_error)?;
        let row = rows.maybe_first_row::<(Option<Vec<u8>>,)>().map_err(cassandra_error)?;
        match row {
            Some((value,)) => Ok(Bytes::from(value.unwrap_or_default())),
            None => Err(StorageError::NotFound(key.to_string())),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let prepared = self.prepare(&cql::delete_chunk(&self.keyspace)?).await?;
        let _permit = self.permit().await;
        self.session.execute_unpaged(&prepared, (key,)).await.map_err(cassandra_error)?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let _permit = self.permit().await;
        let pager = self
            .session
            .query_iter(Statement::new(cql::list_chunk_keys(&self.keyspace)?), ())
            .await
            .map_err(cassandra_error)?;
        let mut keys: Vec<String> = pager
            .rows_stream::<(String,)>()
            .map_err(cassandra_error)?
            .try_filter_map(|(key,)| async move { Ok(key_under_prefix(&key, prefix).then_some(key)) })
            .try_collect()
            .await
            .map_err(cassandra_error)?;
        keys.sort();
        Ok(keys)
    }

    /// The chunks table is one table for every period (not dropped by the table manager), so
    /// retention deletes its expired rows one by one.
    async fn delete_chunks_before(&self, through_before_ms: i64) -> Result<Option<usize>, StorageError> {
        crate::object::delete_listed_chunks_before(self, through_before_ms).await.map(Some)
    }
}

#[async_trait]
impl TableClient for CassandraClient {
    async fn list_tables(&self) -> Result<Vec<String>, StorageError> {
        self.table_names().await
    }

    async fn create_table(&self, desc: TableDesc) -> Result<(), StorageError> {
        self.ensure_table(&desc.name).await
    }

    async fn delete_table(&self, name: &str) -> Result<(), StorageError> {
        self.drop_table(name).await
    }

    async fn describe_table(&self, name: &str) -> Result<(TableDesc, bool), StorageError> {
        // Cassandra tables have no capacity or tags: an existing table is active as created.
        let exists = self.table_names().await?.iter().any(|table| table == name);
        if !exists {
            return Err(cassandra_error(format!("table {}.{name} does not exist", self.keyspace)));
        }
        Ok((TableDesc { name: name.to_string(), ..Default::default() }, true))
    }

    async fn update_table(&self, _current: TableDesc, _expected: TableDesc) -> Result<(), StorageError> {
        // Nothing to change: capacity and tags do not exist in Cassandra.
        Ok(())
    }

    fn has_table_settings(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consistency_levels() {
        for name in crate::cassandra::config::CONSISTENCY_LEVELS {
            assert!(consistency_of(name).is_ok(), "{name}");
        }
        assert_eq!(consistency_of("local_quorum").unwrap(), Consistency::LocalQuorum);
        assert!(matches!(consistency_of("MOST"), Err(StorageError::Config(_))));
    }

    #[test]
    fn missing_table_errors_are_recognised() {
        assert!(is_missing_table(&"Database returned an error: Invalid, unconfigured table index_1"));
        assert!(!is_missing_table(&"connection refused"));
    }

    #[tokio::test]
    async fn closed_port_fails_quickly_with_a_clear_error() {
        // Bind then drop: nothing listens on the port.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = CassandraConfig {
            addresses: "127.0.0.1".into(),
            port,
            keyspace: "cortex".into(),
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let error = CassandraClient::connect(&config).await.unwrap_err();
        let elapsed = started.elapsed();
        let message = error.to_string();
        assert!(matches!(error, StorageError::Backend { backend: "cassandra", .. }), "{message}");
        assert!(message.contains(&format!("127.0.0.1:{port}")), "names the node: {message}");
        assert!(elapsed < Duration::from_secs(12), "failed after {elapsed:?}, not quickly");
    }

    #[tokio::test]
    async fn silent_server_times_out_instead_of_hanging() {
        // A listener that accepts connections but never speaks CQL.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accept = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let config = CassandraConfig {
            addresses: format!("127.0.0.1:{port}"),
            keyspace: "cortex".into(),
            connect_timeout: neocortex_core::duration::GoDuration(Duration::from_millis(500)),
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let error = CassandraClient::connect(&config).await.unwrap_err();
        assert!(matches!(error, StorageError::Backend { .. }), "{error}");
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
        accept.abort();
    }

    #[tokio::test]
    async fn unusable_config_is_refused_before_connecting() {
        let error = CassandraClient::connect(&CassandraConfig::default()).await.unwrap_err();
        assert!(matches!(&error, StorageError::Config(message) if message.contains("addresses")), "{error}");
    }
}
