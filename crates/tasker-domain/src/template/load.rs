//! Loading every template under a list of files and directories.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{Ctx, TemplateError};
use super::limits::check_size;
use super::model::{TaskTemplate, TemplateSet};
use super::notice::TemplateNotice;
use super::parse::check_template_for_env;

/// What `check_templates` found: the files it read, the templates that are valid, every error
/// (empty when all are valid), and the notices of the valid templates (one per file and key).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TemplateReport {
    pub files: Vec<String>,
    pub templates: Vec<TaskTemplate>,
    pub errors: Vec<TemplateError>,
    pub notices: Vec<TemplateNotice>,
}

/// Load and validate every template under `paths` (files or directories).
///
/// A directory contributes the `*.yaml` / `*.yml` files directly inside it, in sorted order; a
/// file is loaded whatever its extension. The same file reached twice is loaded once. Stops at
/// the first error (the first of `check_templates`).
pub fn load_templates<P: AsRef<Path>>(paths: &[P]) -> Result<TemplateSet, TemplateError> {
    let mut report = check_templates(paths);
    if !report.errors.is_empty() {
        return Err(report.errors.swap_remove(0));
    }
    Ok(TemplateSet {
        templates: report.templates,
    })
}

/// `load_templates`, finding every error instead of the first: a path that cannot be read, each
/// file that is not a valid template (with every error within it, see `check_template_for_env`),
/// and each template defined twice. Errors come in the order `load_templates` meets them.
pub fn check_templates<P: AsRef<Path>>(paths: &[P]) -> TemplateReport {
    // Environment overrides (`environments.<TASKER_ENV>`) apply when TASKER_ENV is set.
    let env = std::env::var("TASKER_ENV").ok().filter(|e| !e.is_empty());
    let mut report = TemplateReport::default();
    let mut files: Vec<PathBuf> = Vec::new();
    for path in paths {
        let path = path.as_ref();
        match files_under(path) {
            Ok(found) => files.extend(found),
            Err(e) => report.errors.push(e),
        }
    }
    if files.is_empty() && report.errors.is_empty() {
        let looked: Vec<String> = paths
            .iter()
            .map(|p| p.as_ref().display().to_string())
            .collect();
        report.errors.push(TemplateError::new(format!(
            "no task templates (*.yaml, *.yml) found in {}",
            if looked.is_empty() {
                "(no paths given)".to_string()
            } else {
                looked.join(", ")
            }
        )));
        return report;
    }

    let mut seen = HashSet::new();
    for file in files {
        if !seen.insert(std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone())) {
            continue;
        }
        let source = file.display().to_string();
        report.files.push(source.clone());
        match load_file(&file, &source, env.as_deref()) {
            Err(errors) => report.errors.extend(errors),
            Ok(template) => {
                let prev = report.templates.iter().find(|t| {
                    t.namespace_name == template.namespace_name
                        && t.name == template.name
                        && t.version == template.version
                });
                if let Some(prev) = prev {
                    report.errors.push(TemplateError::in_file(
                        &source,
                        format!(
                            "{source}: template {} is already defined in {}",
                            template.key(),
                            prev.source
                        ),
                    ));
                } else {
                    report.notices.extend(template.notices.iter().cloned());
                    report.templates.push(template);
                }
            }
        }
    }
    report
        .errors
        .extend(super::subtasks::subtask_cycles(&TemplateSet {
            templates: report.templates.clone(),
        }));
    report
}

/// The path itself, or the template files directly inside a directory (sorted).
fn files_under(path: &Path) -> Result<Vec<PathBuf>, TemplateError> {
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| io_error(path, e))? {
        let file = entry.map_err(|e| io_error(path, e))?.path();
        if has_yaml_extension(&file) && file.is_file() {
            found.push(file);
        }
    }
    found.sort();
    Ok(found)
}

fn load_file(
    file: &Path,
    source: &str,
    env: Option<&str>,
) -> Result<TaskTemplate, Vec<TemplateError>> {
    // Checked before reading: a huge file is never loaded into memory.
    let size = std::fs::metadata(file)
        .map_err(|e| vec![io_error(file, e)])?
        .len();
    check_size(&Ctx::new(source), size).map_err(|e| vec![e])?;
    let yaml = std::fs::read_to_string(file).map_err(|e| vec![io_error(file, e)])?;
    check_template_for_env(&yaml, source, env)
}

fn io_error(path: &Path, e: std::io::Error) -> TemplateError {
    let what = if e.kind() == std::io::ErrorKind::NotFound {
        "no such file or directory".to_string()
    } else {
        format!("cannot read: {e}")
    };
    TemplateError::in_file(
        path.display().to_string(),
        format!("{}: {what}", path.display()),
    )
}

fn has_yaml_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}
