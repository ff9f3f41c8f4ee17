//! The `-target` module graph: Cortex's module names, each with its declared dependencies.
//! `all` expands to the default set; the order of start-up is a topological sort.

use std::fmt;
use std::str::FromStr;

/// One module that `-target` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Module {
    /// HTTP and gRPC servers.
    Server,
    /// The HTTP route table.
    Api,
    /// Periodic reload of the runtime config file.
    RuntimeConfig,
    /// Per-tenant limits with runtime overrides.
    Overrides,
    /// The hash ring of ingesters.
    Ring,
    /// The chunk store (schema periods, index and object clients).
    Store,
    /// Creates and deletes the schema's periodic tables.
    TableManager,
    /// Validation, limits and fan-out of pushes.
    Distributor,
    /// In-memory series store.
    Ingester,
    /// The Prometheus read API.
    Querier,
    /// Every module of a single-process Neocortex.
    All,
}

impl Module {
    /// Every module, in declaration order.
    pub const ALL_MODULES: [Module; 11] = [
        Module::Server,
        Module::Api,
        Module::RuntimeConfig,
        Module::Overrides,
        Module::Ring,
        Module::Store,
        Module::TableManager,
        Module::Distributor,
        Module::Ingester,
        Module::Querier,
        Module::All,
    ];

    /// Cortex's name of the module.
    pub fn name(self) -> &'static str {
        match self {
            Module::Server => "server",
            Module::Api => "api",
            Module::RuntimeConfig => "runtime-config",
            Module::Overrides => "overrides",
            Module::Ring => "ring",
            Module::Store => "store",
            Module::TableManager => "table-manager",
            Module::Distributor => "distributor",
            Module::Ingester => "ingester",
            Module::Querier => "querier",
            Module::All => "all",
        }
    }

    /// The modules that must run before this one.
    pub fn dependencies(self) -> &'static [Module] {
        match self {
            Module::Server | Module::RuntimeConfig => &[],
            Module::Store => &[Module::Overrides],
            Module::TableManager => &[Module::Api, Module::Store],
            Module::Api => &[Module::Server],
            Module::Overrides => &[Module::RuntimeConfig],
            Module::Ring => &[Module::Api, Module::RuntimeConfig],
            Module::Distributor => &[Module::Api, Module::Ring, Module::Overrides],
            Module::Ingester => &[Module::Api, Module::Ring, Module::Overrides, Module::Store],
            Module::Querier => &[Module::Api, Module::Ring, Module::Overrides, Module::Store],
            Module::All => &[Module::Distributor, Module::Ingester, Module::Querier, Module::TableManager],
        }
    }

    /// Whether the module only groups others and runs nothing itself.
    pub fn is_group(self) -> bool {
        self == Module::All
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Module {
    type Err = String;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Module::ALL_MODULES.into_iter().find(|m| m.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Module::ALL_MODULES.iter().map(|m| m.name()).collect();
            format!("unrecognised module name {name:?}; known modules: {}", known.join(", "))
        })
    }
}

/// Parses a `-target` comma list.
pub fn parse_targets(text: &str) -> Result<Vec<Module>, String> {
    let targets: Vec<Module> = text
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(Module::from_str)
        .collect::<Result<_, _>>()?;
    if targets.is_empty() {
        return Err("target: no module given".to_string());
    }
    Ok(targets)
}

/// The modules to start for `targets` with all their dependencies, dependencies first, groups
/// left out.
pub fn start_order(targets: &[Module]) -> Vec<Module> {
    fn visit(module: Module, order: &mut Vec<Module>) {
        if order.contains(&module) {
            return;
        }
        for dependency in module.dependencies() {
            visit(*dependency, order);
        }
        order.push(module);
    }
    let mut order = Vec::new();
    for target in targets {
        visit(*target, &mut order);
    }
    order.retain(|m| !m.is_group());
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_start_first() {
        let order = start_order(&[Module::All]);
        for (position, module) in order.iter().enumerate() {
            for dependency in module.dependencies() {
                let dep_position = order.iter().position(|m| m == dependency).unwrap();
                assert!(dep_position < position, "{dependency} must start before {module}");
            }
        }
        assert!(order.contains(&Module::Ingester) && !order.contains(&Module::All));
    }

    #[test]
    fn comma_lists_and_unknown_names() {
        assert_eq!(
            parse_targets("distributor, querier").unwrap(),
            vec![Module::Distributor, Module::Querier]
        );
        let order = start_order(&parse_targets("querier").unwrap());
        assert!(!order.contains(&Module::Ingester));
        assert!(parse_targets("distributer").unwrap_err().contains("distributer"));
        assert!(parse_targets("").is_err());
    }
}
