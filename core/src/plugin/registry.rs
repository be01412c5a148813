//! The plugins of a job as the expression language sees them: functions by name.

use std::collections::HashMap;

use super::error::{LoadError, PluginError};
use super::plugin::{FunctionSpec, Plugin, PluginLog};
use crate::expr::FunctionRegistry;
use crate::value::Value;

/// The loaded plugins of a job, and which plugin provides which function.
#[derive(Debug, Default)]
pub struct PluginRegistry {
    plugins: Vec<Plugin>,
    /// Function name -> (plugin index, function index).
    index: HashMap<String, (usize, usize)>,
}

impl PluginRegistry {
    /// A registry of `plugins`. Fails when two plugins declare the same function.
    pub fn new(plugins: Vec<Plugin>) -> Result<PluginRegistry, LoadError> {
        let mut index: HashMap<String, (usize, usize)> = HashMap::new();
        for (pi, p) in plugins.iter().enumerate() {
            for (fi, f) in p.functions().iter().enumerate() {
                if let Some((first, _)) = index.insert(f.name.clone(), (pi, fi)) {
                    return Err(LoadError::DuplicateFunction {
                        name: f.name.clone(),
                        first: plugins[first].name().to_string(),
                        second: p.name().to_string(),
                    });
                }
            }
        }
        Ok(PluginRegistry { plugins, index })
    }

    /// The plugins, in load order.
    pub fn plugins(&self) -> &[Plugin] {
        &self.plugins
    }

    /// The plugin and description of the function `name`.
    pub fn function(&self, name: &str) -> Option<(&Plugin, &FunctionSpec)> {
        self.index.get(name).map(|&(pi, fi)| {
            let p = &self.plugins[pi];
            (p, &p.functions()[fi])
        })
    }

    /// Every function: its name and its fewest and most arguments (for schema validation).
    pub fn arities(&self) -> Vec<(String, usize, usize)> {
        let mut v: Vec<(String, usize, usize)> = self
            .plugins
            .iter()
            .flat_map(|p| p.functions())
            .map(|f| (f.name.clone(), f.min_args(), f.max_args()))
            .collect();
        v.sort();
        v
    }

    /// The output every plugin captured since the last call of this method.
    pub fn take_log(&self) -> Vec<PluginLog> {
        self.plugins.iter().flat_map(|p| p.take_log()).collect()
    }
}

impl FunctionRegistry for PluginRegistry {
    fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    fn arity(&self, name: &str) -> Option<(usize, usize)> {
        self.function(name)
            .map(|(_, f)| (f.min_args(), f.max_args()))
    }

    fn call(&self, name: &str, args: &[Value]) -> Result<Value, PluginError> {
        match self.function(name) {
            Some((p, _)) => p.call(name, args),
            None => Err(PluginError::NotFound {
                function: name.to_string(),
            }),
        }
    }
}
