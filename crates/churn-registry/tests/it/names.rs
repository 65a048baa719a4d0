//! Names that could escape the registry are refused before anything is written.

use churn_registry::{Error, ModelRef, PromotePolicy};

use crate::common::{clock, registry, saved};

#[test]
fn path_like_names_and_aliases_are_refused() {
    let (dir, reg) = registry();
    let path = saved(dir.path(), 0.7, 0.2);
    for name in [
        "../escape",
        "a/b",
        "a\\b",
        "",
        ".hidden",
        "..",
        "x y",
        &"n".repeat(65),
    ] {
        let err = reg.register(name, &path, &clock(0)).unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{name:?}: {err}");
    }
    reg.register("churn", &path, &clock(0)).unwrap();
    for alias in ["../production", "prod/x", ""] {
        let err = reg
            .set_alias("churn", alias, 1, "test", &clock(1))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{alias:?}: {err}");
        let policy = PromotePolicy {
            alias: alias.to_string(),
            ..PromotePolicy::default()
        };
        assert!(reg.promote("churn", &policy, None, &clock(1)).is_err());
    }
    // Nothing was created outside the registry folder.
    let mut entries: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries.len(), 2, "{entries:?}");
}

#[test]
fn references_parse_or_explain() {
    assert_eq!(
        ModelRef::parse("churn", "production").unwrap().to_string(),
        "churn@production"
    );
    assert_eq!(
        ModelRef::parse("churn/12", "x").unwrap().to_string(),
        "churn/12"
    );
    for bad in ["churn/0", "churn/x", "churn@", "@prod", "churn/../../x"] {
        let err = ModelRef::parse(bad, "production").unwrap_err();
        assert!(err.to_string().starts_with("invalid"), "{bad}: {err}");
    }
}
