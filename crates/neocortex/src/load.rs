//! Turning the command line into a `Config`: defaults, then the YAML file, then flags.
//!
//! Flags use Cortex's names and the Go spelling (`-a.b=x`, `-a.b x`, `--a.b=x`; a boolean flag
//! alone means true). They are derived from the option tables of every config section, so an
//! option is declared once.

use std::collections::HashMap;

use anyhow::{bail, Context};
use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::Value;

use crate::config::{all_sections, Config};

/// What the command line asked for.
#[derive(Debug)]
pub enum Invocation {
    /// Run with this configuration.
    Run(Box<Config>),
    /// Print the effective configuration as YAML and exit.
    PrintConfig(Box<Config>),
    /// Print the version and exit.
    Version,
}

const CONFIG_FILE: &str = "config.file";
const CONFIG_EXPAND_ENV: &str = "config.expand-env";
const PRINT_CONFIG: &str = "print.config";
const VERSION: &str = "version";
const SCHEMA_CONFIG_FILE: &str = neocortex_storage::schema::config::SCHEMA_CONFIG_FILE_FLAG;

/// One flag: where it lands in the YAML tree.
struct FlagTarget {
    path: Vec<&'static str>,
}

/// Parses `args` (without the program name) into an invocation.
pub fn parse_command_line<I, S>(args: I) -> anyhow::Result<Invocation>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).map(go_flag_to_long).collect();
    let defaults = serde_json::to_value(Config::default()).context("serialising defaults")?;
    let (command, targets) = build_command(&defaults);
    let matches = command.try_get_matches_from(std::iter::once("neocortex".to_string()).chain(args))?;

    if matches.get_flag(VERSION) {
        return Ok(Invocation::Version);
    }

    let mut config = match matches.get_one::<String>(CONFIG_FILE) {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading config file {path}"))?;
            let text = if matches.get_flag(CONFIG_EXPAND_ENV) { expand_env(&text) } else { text };
            parse_yaml(&text).with_context(|| format!("config file {path}"))?
        }
        None => Config::default(),
    };

    config = apply_flags(config, &matches, &targets)?;
    if let Some(path) = matches.get_one::<String>(SCHEMA_CONFIG_FILE) {
        config.schema = neocortex_storage::SchemaConfig::load_file(std::path::Path::new(path))
            .with_context(|| format!("schema config file {path}"))?;
    }
    config.validate().map_err(anyhow::Error::msg).context("invalid configuration")?;
    if matches.get_flag(PRINT_CONFIG) {
        return Ok(Invocation::PrintConfig(Box::new(config)));
    }
    Ok(Invocation::Run(Box::new(config)))
}

/// Parses a YAML config; unknown keys are errors that name the key and the line.
pub fn parse_yaml(text: &str) -> anyhow::Result<Config> {
    if text.trim().is_empty() {
        return Ok(Config::default());
    }
    serde_norway::from_str(text).map_err(|err| anyhow::anyhow!("{err}"))
}

/// Renders a config as YAML for people to read (`-print.config`, `GET /config`): secrets masked.
pub fn to_yaml(config: &Config) -> String {
    serde_norway::to_string(&config.redacted())
        .unwrap_or_else(|err| format!("# cannot render config: {err}\n"))
}

/// Go flags use one dash for long names; clap wants two.
fn go_flag_to_long(arg: String) -> String {
    let is_single_dash_long = arg.len() > 2 && arg.starts_with('-') && !arg.starts_with("--");
    if is_single_dash_long {
        format!("-{arg}")
    } else {
        arg
    }
}

fn build_command(defaults: &Value) -> (Command, HashMap<&'static str, FlagTarget>) {
    let mut command = Command::new("neocortex")
        .about("Neocortex: a horizontally scalable, multi-tenant, long-term store for Prometheus metrics")
        .disable_version_flag(true)
        .arg(
            Arg::new(CONFIG_FILE)
                .long(CONFIG_FILE)
                .value_name("path")
                .help("YAML configuration file to load."),
        )
        .arg(
            Arg::new(CONFIG_EXPAND_ENV)
                .long(CONFIG_EXPAND_ENV)
                .action(ArgAction::SetTrue)
                .help("Expand ${VAR} and $VAR in the config file from the environment."),
        )
        .arg(
            Arg::new(PRINT_CONFIG)
                .long(PRINT_CONFIG)
                .action(ArgAction::SetTrue)
                .help("Print the effective configuration as YAML and exit."),
        )
        .arg(Arg::new(VERSION).long(VERSION).action(ArgAction::SetTrue).help("Print the version and exit."))
        .arg(Arg::new(SCHEMA_CONFIG_FILE).long(SCHEMA_CONFIG_FILE).value_name("path").help(
            "YAML file with the chunk store's schema periods (`configs:`); replaces the `schema` section.",
        ));
    let mut targets = HashMap::new();
    for section in all_sections() {
        for option in section.options {
            let mut path: Vec<&'static str> = Vec::new();
            if !section.section.is_empty() {
                path.extend(section.section.split('.'));
            }
            path.extend(option.key.split('.'));
            let default = lookup(defaults, &path);
            let mut arg = Arg::new(option.flag).long(option.flag).help(option.help);
            arg = match default {
                Some(Value::Bool(_)) => arg
                    .num_args(0..=1)
                    .require_equals(true)
                    .default_missing_value("true")
                    .value_parser(clap::builder::BoolishValueParser::new())
                    .action(ArgAction::Set),
                Some(Value::Array(_)) => arg.action(ArgAction::Append).value_name("value"),
                _ => arg.action(ArgAction::Set).value_name("value"),
            };
            if let Some(default) = default {
                let shown = match default {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                arg = arg.help(format!("{} (default {shown})", option.help));
            }
            command = command.arg(arg);
            targets.insert(option.flag, FlagTarget { path });
        }
    }
    (command, targets)
}

fn lookup<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |node, key| node.get(*key))
}

fn apply_flags(
    config: Config,
    matches: &ArgMatches,
    targets: &HashMap<&'static str, FlagTarget>,
) -> anyhow::Result<Config> {
    let mut tree = serde_json::to_value(&config).context("serialising config")?;
    let mut given: Vec<(&'static str, &FlagTarget)> = targets
        .iter()
        .filter(|(flag, _)| matches.value_source(flag) == Some(clap::parser::ValueSource::CommandLine))
        .map(|(flag, target)| (*flag, target))
        .collect();
    given.sort_by_key(|(flag, _)| *flag);
    for (flag, target) in given {
        let current = lookup(&tree, &target.path).cloned().unwrap_or(Value::Null);
        let new_value = match current {
            Value::Bool(_) => Value::Bool(matches.get_one::<bool>(flag).copied().unwrap_or(true)),
            Value::Array(_) => Value::Array(
                matches
                    .get_many::<String>(flag)
                    .into_iter()
                    .flatten()
                    .flat_map(|v| v.split(','))
                    .filter(|v| !v.is_empty())
                    .map(|v| Value::String(v.to_string()))
                    .collect(),
            ),
            Value::Number(_) => {
                let text = matches.get_one::<String>(flag).cloned().unwrap_or_default();
                let number = parse_number(&text)
                    .with_context(|| format!("invalid value {text:?} for flag -{flag}: not a number"))?;
                Value::Number(number)
            }
            _ => Value::String(matches.get_one::<String>(flag).cloned().unwrap_or_default()),
        };
        set_path(&mut tree, &target.path, new_value);
        serde_json::from_value::<Config>(tree.clone()).map_err(|err| {
            let shown = matches
                .get_raw(flag)
                .into_iter()
                .flatten()
                .map(|v| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(",");
            anyhow::anyhow!("invalid value {shown:?} for flag -{flag}: {err}")
        })?;
    }
    Ok(serde_json::from_value(tree)?)
}

fn parse_number(text: &str) -> anyhow::Result<serde_json::Number> {
    if let Ok(v) = text.parse::<u64>() {
        return Ok(v.into());
    }
    if let Ok(v) = text.parse::<i64>() {
        return Ok(v.into());
    }
    let v: f64 = text.parse()?;
    match serde_json::Number::from_f64(v) {
        Some(n) => Ok(n),
        None => bail!("not a finite number"),
    }
}

fn set_path(tree: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut node = tree;
    for key in parents {
        if !node.get(*key).is_some_and(Value::is_object) {
            node[*key] = Value::Object(serde_json::Map::new());
        }
        node = &mut node[*key];
    }
    node[*last] = value;
}

/// Expands `${VAR}` and `$VAR` from the environment (unset variables become empty), as Go's
/// `os.ExpandEnv` does for Cortex's `-config.expand-env`.
pub fn expand_env(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some((_, '{')) => {
                chars.next();
                let mut name = String::new();
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                if closed {
                    out.push_str(&std::env::var(&name).unwrap_or_default());
                } else {
                    out.push_str("${");
                    out.push_str(&name);
                }
            }
            Some((_, c)) if c.is_ascii_alphanumeric() || c == '_' => {
                let mut name = String::new();
                while let Some((_, c)) = chars.peek().copied() {
                    if !(c.is_ascii_alphanumeric() || c == '_') {
                        break;
                    }
                    name.push(c);
                    chars.next();
                }
                out.push_str(&std::env::var(&name).unwrap_or_default());
            }
            _ => out.push('$'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_config(args: &[&str]) -> Config {
        match parse_command_line(args.iter().copied()).unwrap() {
            Invocation::Run(config) => *config,
            other => panic!("unexpected invocation {other:?}"),
        }
    }

    #[test]
    fn no_arguments_gives_embedded_defaults() {
        let config = run_config(&[]);
        assert_eq!(config.target, "all");
        assert_eq!(config.server.http_listen_port, 9009);
        assert_eq!(config.server.grpc_listen_port, 9095);
        assert!(config.auth_enabled);
    }

    #[test]
    fn single_and_double_dash_flags() {
        let config = run_config(&[
            "-server.http-listen-port=1234",
            "--auth.enabled=false",
            "-target",
            "distributor,ingester",
        ]);
        assert_eq!(config.server.http_listen_port, 1234);
        assert!(!config.auth_enabled);
        assert_eq!(config.target, "distributor,ingester");
        let config = run_config(&["-auth.enabled", "-distributor.ingestion-rate-limit=12.5"]);
        assert!(config.auth_enabled);
        assert_eq!(config.limits.ingestion_rate, 12.5);
    }

    #[test]
    fn unknown_flag_is_named() {
        let err = parse_command_line(["-no.such-flag=1"]).unwrap_err().to_string();
        assert!(err.contains("no.such-flag"), "{err}");
    }

    #[test]
    fn bad_flag_value_is_named() {
        let err = parse_command_line(["-validation.create-grace-period=soon"]).unwrap_err().to_string();
        assert!(err.contains("validation.create-grace-period"), "{err}");
        let err = parse_command_line(["-server.http-listen-port=abc"]).unwrap_err().to_string();
        assert!(err.contains("server.http-listen-port"), "{err}");
    }

    #[test]
    fn yaml_then_flags_override() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(
            &path,
            "auth_enabled: false\nserver:\n  http_listen_port: 7000\nlimits:\n  ingestion_rate: 5\n  reject_old_samples_max_age: 1d\n",
        )
        .unwrap();
        let file_arg = format!("-config.file={}", path.display());
        let config = run_config(&[&file_arg]);
        assert!(!config.auth_enabled);
        assert_eq!(config.server.http_listen_port, 7000);
        assert_eq!(config.limits.ingestion_rate, 5.0);
        let config = run_config(&[&file_arg, "-server.http-listen-port=7001"]);
        assert_eq!(config.server.http_listen_port, 7001);
        assert_eq!(config.limits.ingestion_rate, 5.0);
    }

    #[test]
    fn unknown_yaml_key_names_key_and_line() {
        let err =
            format!("{:#}", parse_yaml("server:\n  http_listen_port: 1\n  bogus_key: 2\n").unwrap_err());
        assert!(err.contains("bogus_key"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn env_expansion() {
        std::env::set_var("NEOCORTEX_TEST_PORT", "8123");
        assert_eq!(
            expand_env("port: ${NEOCORTEX_TEST_PORT} $NEOCORTEX_TEST_PORT $ x"),
            "port: 8123 8123 $ x"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "server:\n  http_listen_port: ${NEOCORTEX_TEST_PORT}\n").unwrap();
        let config = run_config(&[&format!("-config.file={}", path.display()), "-config.expand-env"]);
        assert_eq!(config.server.http_listen_port, 8123);
    }

    #[test]
    fn schema_config_file_replaces_the_default_schema() {
        let config = run_config(&[]);
        assert_eq!(config.schema.configs.len(), 1, "a default period exists");
        assert_eq!(config.schema.configs[0].index.table_for(1_577_836_800_000), "index_2608");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schema.yaml");
        std::fs::write(
            &path,
            "configs:\n  - from: 2021-01-01\n    store: boltdb\n    object_store: filesystem\n    schema: v9\n    index: {prefix: i_, period: 24h}\n  - from: 2021-06-01\n    store: inmemory\n    schema: v10\n",
        )
        .unwrap();
        let config = run_config(&[&format!("-schema-config-file={}", path.display())]);
        assert_eq!(config.schema.configs.len(), 2);
        assert_eq!(config.schema.configs[1].store, "inmemory");
        std::fs::write(&path, "configs:\n  - {from: 2021-01-01, store: nosuch, schema: v9}\n").unwrap();
        let err = format!(
            "{:#}",
            parse_command_line([format!("-schema-config-file={}", path.display())]).unwrap_err()
        );
        assert!(err.contains("nosuch") && err.contains("schema config file"), "{err}");
        let yaml = parse_yaml("schema:\n  configs:\n    - {from: 2022-01-01, store: redb, object_store: filesystem, schema: v11}\nstorage:\n  boltdb: {directory: /tmp/x}\n").unwrap();
        assert_eq!(yaml.schema.configs[0].from.start_ms, 1_640_995_200_000);
        assert_eq!(yaml.storage.redb.directory, "/tmp/x");
        let flagged = run_config(&["-local.chunk-directory=/tmp/chunks"]);
        assert_eq!(flagged.storage.filesystem.directory, "/tmp/chunks");
    }

    #[test]
    fn print_config_round_trips() {
        let config = run_config(&["-auth.enabled=false"]);
        let yaml = to_yaml(&config);
        let again = parse_yaml(&yaml).unwrap();
        assert_eq!(to_yaml(&again), yaml);
    }

    #[test]
    fn printed_config_masks_secrets_from_yaml_and_flags_the_clients_get_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(
            &path,
            "storage:\n  aws:\n    dynamodb: {dynamodb_url: 'http://DDBKEY:yaml-ddb-secret@127.0.0.1:5000'}\n  azure: {account_name: acct, account_key: yaml-azure-secret}\n",
        )
        .unwrap();
        let args = [
            format!("-config.file={}", path.display()),
            "-s3.url=s3://URLKEY:flag-url-secret@us-east-1/chunks".to_string(),
            "-s3.access-key-id=AKID".to_string(),
            "-s3.secret-access-key=flag-s3-secret".to_string(),
            "-cassandra.password=flag-cassandra-secret".to_string(),
            "-gcs.service-account={\"private_key\": \"flag-gcs-secret\"}".to_string(),
            "-print.config".to_string(),
        ];
        let config = match parse_command_line(args).unwrap() {
            Invocation::PrintConfig(config) => *config,
            other => panic!("unexpected invocation {other:?}"),
        };
        let printed = to_yaml(&config);
        let secrets = [
            "yaml-ddb-secret",
            "yaml-azure-secret",
            "flag-url-secret",
            "flag-s3-secret",
            "flag-cassandra-secret",
            "flag-gcs-secret",
        ];
        for secret in secrets {
            assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
        }
        let shown = parse_yaml(&printed).unwrap().storage;
        assert_eq!(shown.aws.dynamodb.dynamodb_url, "http://DDBKEY:********@127.0.0.1:5000");
        assert_eq!(shown.azure.account_key, neocortex_core::secret::MASK);
        assert_eq!(shown.azure.account_name, "acct");
        let storage = &config.storage;
        assert_eq!(storage.azure.account_key, "yaml-azure-secret");
        assert_eq!(storage.gcs.service_account, "{\"private_key\": \"flag-gcs-secret\"}");
        assert_eq!(storage.cassandra.resolved_password().unwrap(), "flag-cassandra-secret");
        let s3 = storage.aws.s3_target().unwrap();
        assert_eq!(s3.credentials, Some(("AKID".to_string(), "flag-s3-secret".to_string())));
        let dynamodb = storage.aws.dynamodb_target().unwrap();
        assert_eq!(dynamodb.credentials, Some(("DDBKEY".to_string(), "yaml-ddb-secret".to_string())));
    }

    #[test]
    fn every_option_has_a_unique_flag_and_exists_in_the_yaml_tree() {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let mut flags = std::collections::HashSet::new();
        for section in all_sections() {
            for option in section.options {
                assert!(flags.insert(option.flag), "flag -{} declared twice", option.flag);
                let mut path: Vec<&str> = Vec::new();
                if !section.section.is_empty() {
                    path.extend(section.section.split('.'));
                }
                path.extend(option.key.split('.'));
                assert!(lookup(&defaults, &path).is_some(), "option {path:?} is not in the config struct");
            }
        }
    }

    #[test]
    fn every_yaml_leaf_has_an_option() {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        let mut declared = std::collections::HashSet::new();
        for section in all_sections() {
            for option in section.options {
                let key = if section.section.is_empty() {
                    option.key.to_string()
                } else {
                    format!("{}.{}", section.section, option.key)
                };
                declared.insert(key);
            }
        }
        let mut leaves = Vec::new();
        collect_leaves(&defaults, String::new(), &mut leaves);
        // The schema periods are a list set in the YAML or by -schema-config-file, not by flags.
        for leaf in leaves.into_iter().filter(|leaf| !leaf.starts_with("schema.")) {
            assert!(declared.contains(&leaf), "config key {leaf} has no option entry (flag and help)");
        }
    }

    fn collect_leaves(value: &Value, prefix: String, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    collect_leaves(child, path, out);
                }
            }
            _ => out.push(prefix),
        }
    }
}
