//! Loading every template under a list of files and directories.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::error::{Ctx, TemplateError};
use super::limits::check_size;
use super::model::TemplateSet;
use super::parse::parse_template_for_env;

/// Load and validate every template under `paths` (files or directories).
///
/// A directory contributes the `*.yaml` / `*.yml` files directly inside it, in sorted order; a
/// file is loaded whatever its extension. The same file reached twice is loaded once.
pub fn load_templates<P: AsRef<Path>>(paths: &[P]) -> Result<TemplateSet, TemplateError> {
    // Environment overrides (`environments.<TASKER_ENV>`) apply when TASKER_ENV is set.
    let env = std::env::var("TASKER_ENV").ok().filter(|e| !e.is_empty());
    let mut files: Vec<PathBuf> = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
        if !meta.is_dir() {
            files.push(path.to_path_buf());
            continue;
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| io_error(path, e))? {
            let file = entry.map_err(|e| io_error(path, e))?.path();
            if has_yaml_extension(&file) && file.is_file() {
                found.push(file);
            }
        }
        found.sort();
        files.extend(found);
    }
    if files.is_empty() {
        let looked: Vec<String> = paths
            .iter()
            .map(|p| p.as_ref().display().to_string())
            .collect();
        return Err(TemplateError::new(format!(
            "no task templates (*.yaml, *.yml) found in {}",
            if looked.is_empty() {
                "(no paths given)".to_string()
            } else {
                looked.join(", ")
            }
        )));
    }

    let mut set = TemplateSet::default();
    let mut seen = HashSet::new();
    for file in files {
        if !seen.insert(std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone())) {
            continue;
        }
        let source = file.display().to_string();
        // Checked before reading: a huge file is never loaded into memory.
        let size = std::fs::metadata(&file)
            .map_err(|e| io_error(&file, e))?
            .len();
        check_size(&Ctx::new(&source), size)?;
        let yaml = std::fs::read_to_string(&file).map_err(|e| io_error(&file, e))?;
        let template = parse_template_for_env(&yaml, &source, env.as_deref())?;
        if let Some(prev) = set.find(&template.namespace_name, &template.name, &template.version) {
            return Err(TemplateError::new(format!(
                "{source}: template {} is already defined in {}",
                template.key(),
                prev.source
            )));
        }
        set.templates.push(template);
    }
    Ok(set)
}

fn io_error(path: &Path, e: std::io::Error) -> TemplateError {
    let what = if e.kind() == std::io::ErrorKind::NotFound {
        "no such file or directory".to_string()
    } else {
        format!("cannot read: {e}")
    };
    TemplateError::new(format!("{}: {what}", path.display()))
}

fn has_yaml_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}
