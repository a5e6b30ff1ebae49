//! `ssehub serve --config FILE`: a TOML file whose keys are the flags' long
//! names (`listen = "0.0.0.0:8080"`, `history-events = 50000`,
//! `public-topics = ["news/*"]`). Precedence: flag, then environment
//! (`SSEHUB_*`), then the file, then the default.

use std::path::Path;

use anyhow::{bail, Context};
use clap::CommandFactory;

/// Puts each key of the file into its flag's `SSEHUB_*` variable, unless the
/// environment already sets it; the flags are then parsed again.
pub(crate) fn apply(path: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    let command = crate::Cli::command();
    let serve = command
        .find_subcommand("serve")
        .context("no serve command")?;
    for (key, value) in table {
        let name = key.replace('_', "-");
        let Some(arg) = serve
            .get_arguments()
            .find(|a| a.get_long() == Some(name.as_str()) && a.get_env().is_some())
        else {
            bail!(
                "{}: unknown key {key:?} (keys are the flags of `ssehub serve --help`)",
                path.display()
            );
        };
        let env = arg.get_env().context("no environment variable")?;
        if std::env::var_os(env).is_some() {
            continue;
        }
        let value = match value {
            toml::Value::Array(items) => items
                .iter()
                .map(|item| scalar(item).with_context(|| format!("{}: {key}", path.display())))
                .collect::<anyhow::Result<Vec<_>>>()?
                .join(","),
            other => scalar(&other).with_context(|| format!("{}: {key}", path.display()))?,
        };
        std::env::set_var(env, value);
    }
    Ok(())
}

/// A string, number or boolean as a flag's text.
fn scalar(value: &toml::Value) -> anyhow::Result<String> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        _ => bail!("expected a string, a number or a boolean"),
    })
}
