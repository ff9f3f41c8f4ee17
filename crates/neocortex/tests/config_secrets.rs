//! The built binary never shows configured secrets: `-print.config` and `GET /config` (every
//! mode) print them masked, whether they came from the YAML file or from flags.

use anyhow::{ensure, Context};
use neocortex_testkit::http::send;
use neocortex_testkit::NeocortexProcess;

fn neocortex_binary() -> &'static str {
    env!("CARGO_BIN_EXE_neocortex")
}

/// Secret values set below; none may appear in what the process prints.
const SECRETS: [&str; 6] = [
    "yaml-ddb-secret",
    "yaml-azure-secret",
    "flag-url-secret",
    "flag-s3-secret",
    "flag-cassandra-secret",
    "flag-gcs-secret",
];

/// The chunk store stays local (the default schema); the cloud sections are configured but
/// unused, so no cloud service is needed.
const CONFIG_YAML: &str = "auth_enabled: false
storage:
  aws:
    dynamodb: {dynamodb_url: 'http://DDBKEY:yaml-ddb-secret@127.0.0.1:5000'}
  azure: {account_name: acct, account_key: yaml-azure-secret}
";

fn secret_flags() -> Vec<String> {
    vec![
        "-s3.url=s3://URLKEY:flag-url-secret@us-east-1/chunks".to_string(),
        "-s3.access-key-id=AKID".to_string(),
        "-s3.secret-access-key=flag-s3-secret".to_string(),
        "-cassandra.password=flag-cassandra-secret".to_string(),
        r#"-gcs.service-account={"private_key": "flag-gcs-secret"}"#.to_string(),
    ]
}

fn ensure_masked(what: &str, text: &str) -> anyhow::Result<()> {
    for secret in SECRETS {
        ensure!(!text.contains(secret), "{what} shows {secret}:\n{text}");
    }
    ensure!(text.contains("DDBKEY:********@127.0.0.1:5000"), "{what} hides the URL's user:\n{text}");
    ensure!(text.contains("AKID"), "{what} hides the access key id:\n{text}");
    ensure!(text.matches("'********'").count() >= 4, "{what} does not show set secrets as ********:\n{text}");
    Ok(())
}

#[tokio::test]
async fn print_config_and_config_endpoint_mask_secrets() -> anyhow::Result<()> {
    let directory = tempfile::tempdir()?;
    let config_file = directory.path().join("neocortex.yaml");
    std::fs::write(&config_file, CONFIG_YAML)?;
    let mut args = vec![format!("-config.file={}", config_file.display())];
    args.extend(secret_flags());

    let output = std::process::Command::new(neocortex_binary())
        .args(&args)
        .arg("-print.config")
        .output()
        .context("running neocortex -print.config")?;
    let printed = String::from_utf8_lossy(&output.stdout);
    ensure!(output.status.success(), "-print.config failed: {}", String::from_utf8_lossy(&output.stderr));
    ensure_masked("-print.config", &printed)?;

    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let neocortex = NeocortexProcess::start(neocortex_binary(), &arg_refs).await?;
    let client = reqwest::Client::new();
    for path in ["/config", "/config?mode=diff"] {
        let (status, body) = send(client.get(format!("{}{path}", neocortex.http_url()))).await?;
        ensure!(status == 200, "GET {path}: {status} {body}");
        ensure_masked(&format!("GET {path}"), &body)?;
    }
    Ok(())
}
