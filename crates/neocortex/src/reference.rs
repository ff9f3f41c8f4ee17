//! The configuration reference (docs/configuration-reference.md), rendered from the option
//! tables and the defaults so it cannot drift from the code; a test compares the checked-in page.

use serde_json::Value;

use crate::config::{all_sections, Config};

/// Renders the reference page as Markdown.
pub fn render_reference() -> String {
    let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from the code by `UPDATE_DOCS=1 cargo test -p neocortex reference`; do not edit by hand.\n\n\
         Every option can be set in the YAML file given with `-config.file` (Cortex's section and key\n\
         names) or with its flag (`-flag=value` or `--flag=value`); flags override the file.\n\
         `-config.expand-env` expands `${VAR}` in the file, `-print.config` prints the effective\n\
         configuration (secrets as `********`), `-version` prints the version. Per-tenant\n\
         overrides of `limits` come from `-runtime-config.file`\n\
         (`overrides: {<tenant>: {<limit>: <value>}}`), reloaded every `-runtime-config.reload-period`.\n\n\
         The chunk store's periods are the `schema:` section (`configs:`, a list of periods with\n\
         `from`, `store`, `object_store`, `schema`, `index`, `chunks`, `row_shards`, as in Cortex) or the\n\
         file named by `-schema-config-file`; without either, one period from 2020-01-01 uses the\n\
         embedded index (`boltdb`, our redb) and `filesystem` chunks, schema v11, weekly `index_` tables.\n",
    );
    for section in all_sections() {
        let title = if section.section.is_empty() { "top level" } else { section.section };
        out.push_str(&format!(
            "\n## `{title}`\n\n| YAML key | flag | default | description |\n|---|---|---|---|\n"
        ));
        for option in section.options {
            let mut path: Vec<&str> = Vec::new();
            if !section.section.is_empty() {
                path.extend(section.section.split('.'));
            }
            path.extend(option.key.split('.'));
            let default = path.iter().try_fold(&defaults, |node, key| node.get(*key));
            let shown = match default {
                Some(Value::String(s)) if s.is_empty() => "\"\"".to_string(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            out.push_str(&format!(
                "| `{}` | `-{}` | `{}` | {} |\n",
                option.key,
                option.flag,
                shown,
                option.help.replace('|', "\\|")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_doc_is_current() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration-reference.md");
        let rendered = render_reference();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, &rendered).unwrap();
            return;
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == rendered,
            "docs/configuration-reference.md is stale: run `UPDATE_DOCS=1 cargo test -p neocortex reference`"
        );
    }
}
