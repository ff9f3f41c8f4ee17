//! Bigtable's table-admin API (create, list, get, delete tables), which `bigtable_rs` does not
//! cover: the generated v2 gRPC client over a plain channel to an emulator, or a TLS channel to
//! Google with a bearer token from Google's default credentials on every call.

use std::sync::Arc;

use googleapis_tonic_google_bigtable_admin_v2::google::bigtable::admin::v2::{
    bigtable_table_admin_client::BigtableTableAdminClient, gc_rule, table, ColumnFamily, CreateTableRequest,
    DeleteTableRequest, GcRule, GetTableRequest, ListTablesRequest, Table,
};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::Code;

use crate::error::StorageError;
use crate::gcp::config::BigtableConfig;

/// The one column family every index table has (Cortex's `f`).
pub const COLUMN_FAMILY: &str = "f";

/// Google's table-admin endpoint.
const ADMIN_ENDPOINT: &str = "https://bigtableadmin.googleapis.com";
const ADMIN_DOMAIN: &str = "bigtableadmin.googleapis.com";
const ADMIN_SCOPE: &str = "https://www.googleapis.com/auth/bigtable.admin.table";

/// The error every Bigtable call maps its failures to.
pub(crate) fn bigtable_error(what: &str, status: impl std::fmt::Display) -> StorageError {
    StorageError::backend("bigtable", format!("{what}: {status}"))
}

/// A checked `http://host:port` endpoint of an emulator (`bigtable_rs` panics on bad ones).
pub(crate) fn emulator_endpoint(host: &str) -> Result<Endpoint, StorageError> {
    Endpoint::from_shared(format!("http://{host}")).map_err(|err| {
        StorageError::Config(format!("invalid Bigtable emulator host {host:?} (want host:port): {err}"))
    })
}

/// Table administration of one Bigtable instance.
#[derive(Clone)]
pub struct BigtableAdmin {
    client: BigtableTableAdminClient<Channel>,
    instance_path: String,
    tokens: Option<Arc<dyn gcp_auth::TokenProvider>>,
}

impl std::fmt::Debug for BigtableAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigtableAdmin").field("instance_path", &self.instance_path).finish()
    }
}

impl BigtableAdmin {
    /// Connects (lazily) to the emulator or to Google, as `config` says.
    pub async fn connect(config: &BigtableConfig) -> Result<Self, StorageError> {
        config.check_usable().map_err(StorageError::Config)?;
        let instance_path = format!("projects/{}/instances/{}", config.project, config.instance);
        let (channel, tokens) = match config.effective_emulator_host() {
            Some(host) => (emulator_endpoint(&host)?.connect_lazy(), None),
            None => {
                let tls = ClientTlsConfig::new().with_native_roots().domain_name(ADMIN_DOMAIN);
                let channel = Endpoint::from_static(ADMIN_ENDPOINT)
                    .tls_config(tls)
                    .map_err(|err| bigtable_error("admin TLS setup", err))?
                    .connect_lazy();
                let tokens = gcp_auth::provider().await.map_err(|err| bigtable_error("credentials", err))?;
                (channel, Some(tokens))
            }
        };
        Ok(Self { client: BigtableTableAdminClient::new(channel), instance_path, tokens })
    }

    fn table_path(&self, name: &str) -> String {
        format!("{}/tables/{name}", self.instance_path)
    }

    /// Wraps `message` in a request with the routing header and, for Google, a bearer token.
    async fn request<T>(&self, message: T, routing: &str) -> Result<tonic::Request<T>, StorageError> {
        let mut request = tonic::Request::new(message);
        let params = MetadataValue::try_from(routing).map_err(|err| bigtable_error("request header", err))?;
        request.metadata_mut().insert("x-goog-request-params", params);
        if let Some(tokens) = &self.tokens {
            let token =
                tokens.token(&[ADMIN_SCOPE]).await.map_err(|err| bigtable_error("credentials", err))?;
            let bearer = MetadataValue::try_from(format!("Bearer {}", token.as_str()))
                .map_err(|err| bigtable_error("authorization header", err))?;
            request.metadata_mut().insert("authorization", bearer);
        }
        Ok(request)
    }

    /// Creates `name` with the column family `f` keeping one version per cell; an existing
    /// table is left as it is.
    pub async fn create_table(&self, name: &str) -> Result<(), StorageError> {
        let family = ColumnFamily {
            gc_rule: Some(GcRule { rule: Some(gc_rule::Rule::MaxNumVersions(1)) }),
            ..Default::default()
        };
        let table = Table {
            column_families: [(COLUMN_FAMILY.to_string(), family)].into_iter().collect(),
            ..Default::default()
        };
        let message = CreateTableRequest {
            parent: self.instance_path.clone(),
            table_id: name.to_string(),
            table: Some(table),
            initial_splits: Vec::new(),
        };
        let request = self.request(message, &format!("parent={}", self.instance_path)).await?;
        match self.client.clone().create_table(request).await {
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::AlreadyExists => Ok(()),
            Err(status) => Err(bigtable_error(&format!("creating table {name}"), status)),
        }
    }

    /// Deletes `name` and its rows; a missing table is not an error.
    pub async fn delete_table(&self, name: &str) -> Result<(), StorageError> {
        let path = self.table_path(name);
        let request =
            self.request(DeleteTableRequest { name: path.clone() }, &format!("name={path}")).await?;
        match self.client.clone().delete_table(request).await {
            Ok(_) => Ok(()),
            Err(status) if status.code() == Code::NotFound => Ok(()),
            Err(status) => Err(bigtable_error(&format!("deleting table {name}"), status)),
        }
    }

    /// Whether `name` exists.
    pub async fn table_exists(&self, name: &str) -> Result<bool, StorageError> {
        let path = self.table_path(name);
        let message = GetTableRequest { name: path.clone(), view: table::View::NameOnly as i32 };
        let request = self.request(message, &format!("name={path}")).await?;
        match self.client.clone().get_table(request).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(bigtable_error(&format!("getting table {name}"), status)),
        }
    }

    /// Names of all tables of the instance, sorted.
    pub async fn list_tables(&self) -> Result<Vec<String>, StorageError> {
        let prefix = format!("{}/tables/", self.instance_path);
        let mut names = Vec::new();
        let mut page_token = String::new();
        loop {
            let message = ListTablesRequest {
                parent: self.instance_path.clone(),
                view: table::View::NameOnly as i32,
                page_size: 0,
                page_token: page_token.clone(),
            };
            let request = self.request(message, &format!("parent={}", self.instance_path)).await?;
            let response = self
                .client
                .clone()
                .list_tables(request)
                .await
                .map_err(|status| bigtable_error("listing tables", status))?
                .into_inner();
            names.extend(
                response
                    .tables
                    .into_iter()
                    .map(|t| t.name.strip_prefix(&prefix).unwrap_or(&t.name).to_string()),
            );
            if response.next_page_token.is_empty() {
                break;
            }
            page_token = response.next_page_token;
        }
        names.sort();
        Ok(names)
    }
}
