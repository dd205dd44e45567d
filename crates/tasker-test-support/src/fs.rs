//! Temporary directories, and template directories written into them.

use std::path::{Path, PathBuf};

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    #[allow(
        clippy::new_without_default,
        reason = "creating a directory on disk is not a default value"
    )]
    pub fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("tasker-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, file: &str, text: &str) -> PathBuf {
        let p = self.0.join(file);
        std::fs::write(&p, text).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A template directory holding the given `(file name, yaml)` files.
pub fn template_dir(files: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new();
    for (file, yaml) in files {
        dir.write(file, yaml);
    }
    dir
}
