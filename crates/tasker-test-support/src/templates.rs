//! Templates both suites use (namespace `test`, version `1.0.0`).

pub const NS: &str = "test";
pub const VERSION: &str = "1.0.0";

pub const DIAMOND: &str = r#"
name: diamond
namespace_name: test
version: 1.0.0
steps:
  - name: start
    handler: { callable: Diamond.Start }
  - name: left
    dependencies: [start]
    handler: { callable: Diamond.Left }
  - name: right
    dependencies: [start]
    handler: { callable: Diamond.Right }
  - name: join
    dependencies: [left, right]
    handler: { callable: Diamond.Join }
"#;
pub const DIAMOND_CALLABLES: &[&str] = &[
    "Diamond.Start",
    "Diamond.Left",
    "Diamond.Right",
    "Diamond.Join",
];

/// One step, for the many-tasks tests.
pub const SINGLE: &str = r#"
name: single
namespace_name: test
version: 1.0.0
steps:
  - name: only
    handler: { callable: Single.Only }
"#;
