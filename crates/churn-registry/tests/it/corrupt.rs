//! Corrupt, missing and torn files give errors that name the file.

use churn_registry::{Error, ModelRef, PromotePolicy};

use crate::common::{clock, registry, saved};

#[test]
fn a_corrupt_version_record_or_changed_artifact_names_the_file() {
    let (dir, reg) = registry();
    reg.register("churn", &saved(dir.path(), 0.7, 0.2), &clock(0))
        .unwrap();
    let record = reg.root().join("churn/versions/1/version.json");
    let model = reg.root().join("churn/versions/1/model.json");
    let original = std::fs::read_to_string(&model).unwrap();

    std::fs::write(
        &model,
        original.replace("\"pr_auc\": 0.7", "\"pr_auc\": 0.9"),
    )
    .unwrap();
    let err = reg
        .load(&ModelRef::version("churn", 1).unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains("model.json") && err.to_string().contains("fingerprint"),
        "{err}"
    );
    std::fs::write(&model, &original).unwrap();
    reg.load(&ModelRef::version("churn", 1).unwrap()).unwrap();

    std::fs::write(&record, "{ not json").unwrap();
    let err = reg.versions("churn").unwrap_err();
    assert!(err.to_string().contains("version.json"), "{err}");
    std::fs::remove_file(&record).unwrap();
    let err = reg.version("churn", 1).unwrap_err();
    assert!(err.to_string().contains("version.json"), "{err}");
}

#[test]
fn a_corrupt_history_line_is_an_error_with_its_line_number() {
    let (dir, reg) = registry();
    reg.register("churn", &saved(dir.path(), 0.7, 0.2), &clock(0))
        .unwrap();
    reg.promote("churn", &PromotePolicy::default(), None, &clock(1))
        .unwrap();
    let history = reg.root().join("churn/history.jsonl");
    let text = std::fs::read_to_string(&history).unwrap();
    std::fs::write(&history, format!("garbage\n{text}")).unwrap();
    let err = reg.aliases("churn").unwrap_err();
    assert!(
        err.to_string().contains("history.jsonl") && err.to_string().contains("line 1"),
        "{err}"
    );
}

#[test]
fn a_torn_last_history_line_is_ignored_and_repaired() {
    let (dir, reg) = registry();
    reg.register("churn", &saved(dir.path(), 0.7, 0.2), &clock(0))
        .unwrap();
    reg.promote("churn", &PromotePolicy::default(), None, &clock(1))
        .unwrap();
    let history = reg.root().join("churn/history.jsonl");
    // A crash in the middle of appending a rollback.
    let mut text = std::fs::read_to_string(&history).unwrap();
    text.push_str("{\"at\":\"2026-03-01T09:00:00Z\",\"action\":\"rollb");
    std::fs::write(&history, &text).unwrap();
    assert_eq!(reg.history("churn").unwrap().len(), 2);
    assert_eq!(reg.aliases("churn").unwrap().get("production"), Some(&1));
    reg.set_alias("churn", "staging", 1, "after the crash", &clock(2))
        .unwrap();
    let repaired = std::fs::read_to_string(&history).unwrap();
    assert_eq!(repaired.lines().count(), 3);
    assert!(!repaired.contains("rollb\""));
    assert_eq!(reg.history("churn").unwrap().len(), 3);
}

#[test]
fn a_missing_or_invalid_artifact_is_refused_at_registration() {
    let (dir, reg) = registry();
    let missing = dir.path().join("nope.json");
    let err = reg.register("churn", &missing, &clock(0)).unwrap_err();
    assert!(err.to_string().contains("nope.json"), "{err}");
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"hello\": 1}").unwrap();
    let err = reg.register("churn", &junk, &clock(0)).unwrap_err();
    assert!(err.to_string().contains("junk.json"), "{err}");
    assert!(reg.models().unwrap().is_empty());
}
