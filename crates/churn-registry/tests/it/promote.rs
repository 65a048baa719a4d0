//! Promotion (first, better, worse, tie, threshold, lower-is-better), rollback, aliases
//! and the history.

use churn_registry::{Action, Metric, ModelRef, PromotePolicy, Registry};

use crate::common::{clock, registry, saved};

fn register(reg: &Registry, dir: &std::path::Path, pr_auc: f64, minute: i64) -> u32 {
    let path = saved(dir, pr_auc, 0.2);
    reg.register("churn", &path, &clock(minute))
        .unwrap()
        .info
        .version
}

fn production(reg: &Registry) -> Option<u32> {
    reg.aliases("churn").unwrap().get("production").copied()
}

#[test]
fn the_first_model_becomes_production_and_better_ones_replace_it() {
    let (dir, reg) = registry();
    let policy = PromotePolicy::default();
    assert_eq!(register(&reg, dir.path(), 0.70, 0), 1);
    let first = reg.promote("churn", &policy, None, &clock(1)).unwrap();
    assert!(first.promoted);
    assert_eq!(first.event.from, None);
    assert_eq!(production(&reg), Some(1));

    register(&reg, dir.path(), 0.75, 2);
    let better = reg.promote("churn", &policy, None, &clock(3)).unwrap();
    assert!(better.promoted, "{}", better.event.reason);
    assert_eq!((better.event.from, better.event.to), (Some(1), Some(2)));
    assert_eq!(better.event.candidate_value, Some(0.75));
    assert_eq!(better.event.incumbent_value, Some(0.70));
    assert_eq!(production(&reg), Some(2));
    // The registered artifact of the alias is what resolves and loads.
    let (info, artifact) = reg
        .load(&ModelRef::alias("churn", "production").unwrap())
        .unwrap();
    assert_eq!(info.version, 2);
    assert_eq!(artifact.report.test.pr_auc, Some(0.75));
}

#[test]
fn a_worse_or_tied_candidate_keeps_production() {
    let (dir, reg) = registry();
    let policy = PromotePolicy::default();
    register(&reg, dir.path(), 0.80, 0);
    reg.promote("churn", &policy, None, &clock(1)).unwrap();

    register(&reg, dir.path(), 0.60, 2);
    let worse = reg.promote("churn", &policy, None, &clock(3)).unwrap();
    assert!(!worse.promoted);
    assert_eq!(worse.event.action, Action::Keep);
    assert_eq!((worse.event.from, worse.event.to), (Some(1), Some(2)));
    assert!(
        worse.event.reason.contains("kept"),
        "{}",
        worse.event.reason
    );

    // Same metric, different artifact (a different Brier score): a tie keeps production.
    let tie = saved(dir.path(), 0.80, 0.19);
    assert_eq!(
        reg.register("churn", &tie, &clock(4)).unwrap().info.version,
        3
    );
    let tied = reg.promote("churn", &policy, None, &clock(5)).unwrap();
    assert!(!tied.promoted);
    assert_eq!(production(&reg), Some(1));
}

#[test]
fn the_minimum_improvement_and_the_metric_direction_are_respected() {
    let (dir, reg) = registry();
    register(&reg, dir.path(), 0.70, 0);
    let strict = PromotePolicy {
        min_improvement: 0.05,
        ..PromotePolicy::default()
    };
    reg.promote("churn", &strict, None, &clock(1)).unwrap();
    register(&reg, dir.path(), 0.74, 2);
    assert!(
        !reg.promote("churn", &strict, None, &clock(3))
            .unwrap()
            .promoted
    );
    register(&reg, dir.path(), 0.76, 4);
    assert!(
        reg.promote("churn", &strict, None, &clock(5))
            .unwrap()
            .promoted
    );
    assert_eq!(production(&reg), Some(3));

    // Brier: lower is better. Version 4 has a lower Brier score than version 3.
    let low_brier = saved(dir.path(), 0.10, 0.05);
    reg.register("churn", &low_brier, &clock(6)).unwrap();
    let brier = PromotePolicy {
        metric: Metric::Brier,
        ..PromotePolicy::default()
    };
    let out = reg.promote("churn", &brier, None, &clock(7)).unwrap();
    assert!(out.promoted, "{}", out.event.reason);
    assert_eq!(production(&reg), Some(4));
}

#[test]
fn the_best_of_the_new_candidates_is_compared() {
    let (dir, reg) = registry();
    register(&reg, dir.path(), 0.50, 0);
    reg.promote("churn", &PromotePolicy::default(), None, &clock(1))
        .unwrap();
    // One training run registers two models; the better one is the candidate even
    // though it is not the newest.
    register(&reg, dir.path(), 0.90, 2);
    register(&reg, dir.path(), 0.60, 3);
    let out = reg
        .promote("churn", &PromotePolicy::default(), None, &clock(4))
        .unwrap();
    assert_eq!(out.event.to, Some(2));
    assert_eq!(production(&reg), Some(2));
}

#[test]
fn rollback_returns_to_the_previous_version_or_a_named_one() {
    let (dir, reg) = registry();
    let policy = PromotePolicy::default();
    for (i, v) in [0.6, 0.7, 0.8].into_iter().enumerate() {
        register(&reg, dir.path(), v, 2 * i as i64);
        reg.promote("churn", &policy, None, &clock(2 * i as i64 + 1))
            .unwrap();
    }
    assert_eq!(production(&reg), Some(3));
    let back = reg
        .rollback("churn", "production", None, &clock(10))
        .unwrap();
    assert_eq!((back.from, back.to), (Some(3), Some(2)));
    assert_eq!(production(&reg), Some(2));
    // A second rollback keeps going back, not forward again.
    reg.rollback("churn", "production", None, &clock(11))
        .unwrap();
    assert_eq!(production(&reg), Some(1));
    let err = reg
        .rollback("churn", "production", None, &clock(12))
        .unwrap_err();
    assert!(err.to_string().contains("no earlier version"), "{err}");
    reg.rollback("churn", "production", Some(3), &clock(13))
        .unwrap();
    assert_eq!(production(&reg), Some(3));
    assert!(
        reg.rollback("churn", "production", Some(9), &clock(14))
            .unwrap_err()
            .is_not_found()
    );
}

#[test]
fn the_history_records_every_change_and_aliases_json_agrees() {
    let (dir, reg) = registry();
    register(&reg, dir.path(), 0.6, 0);
    reg.promote("churn", &PromotePolicy::default(), None, &clock(1))
        .unwrap();
    register(&reg, dir.path(), 0.5, 2);
    reg.promote("churn", &PromotePolicy::default(), None, &clock(3))
        .unwrap();
    reg.set_alias("churn", "staging", 2, "shadow test", &clock(4))
        .unwrap();
    reg.rollback("churn", "staging", Some(1), &clock(5))
        .unwrap();

    let history = reg.history("churn").unwrap();
    let actions: Vec<Action> = history.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            Action::Register,
            Action::Promote,
            Action::Register,
            Action::Keep,
            Action::SetAlias,
            Action::Rollback
        ]
    );
    assert_eq!(history[3].metric, Some(Metric::PrAuc));
    assert_eq!(history[3].candidate_value, Some(0.5));
    assert_eq!(history[3].incumbent_value, Some(0.6));
    assert_eq!(history[4].reason, "shadow test");
    assert_eq!(history[5].at, clock(5).0);
    let aliases = reg.aliases("churn").unwrap();
    assert_eq!(aliases.get("production"), Some(&1));
    assert_eq!(aliases.get("staging"), Some(&1));
    let file: std::collections::BTreeMap<String, u32> = serde_json::from_str(
        &std::fs::read_to_string(reg.root().join("churn/aliases.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(file, aliases);
    let staging = reg.resolve(&"churn@staging".parse().unwrap()).unwrap();
    assert_eq!(staging.version, 1);
    // The events of one alias, and of one version.
    let of = |text: &str| -> Vec<Action> {
        let r: ModelRef = text.parse().unwrap();
        history
            .iter()
            .filter(|e| e.concerns(&r.selector))
            .map(|e| e.action)
            .collect()
    };
    assert_eq!(of("churn@production"), [Action::Promote, Action::Keep]);
    assert_eq!(of("churn@staging"), [Action::SetAlias, Action::Rollback]);
    assert_eq!(
        of("churn/1"),
        [
            Action::Register,
            Action::Promote,
            Action::Keep,
            Action::Rollback
        ]
    );
    assert_eq!(
        of("churn/2"),
        [
            Action::Register,
            Action::Keep,
            Action::SetAlias,
            Action::Rollback
        ]
    );
}

#[test]
fn versions_carry_metrics_and_lineage_and_registering_twice_is_idempotent() {
    let (dir, reg) = registry();
    let path = saved(dir.path(), 0.7, 0.2);
    let first = reg.register("churn", &path, &clock(0)).unwrap();
    assert!(first.created);
    reg.promote("churn", &PromotePolicy::default(), None, &clock(1))
        .unwrap();
    let again = reg.register("churn", &path, &clock(2)).unwrap();
    assert!(!again.created);
    assert_eq!(again.info.version, 1);
    let second = reg
        .register("churn", &saved(dir.path(), 0.8, 0.2), &clock(3))
        .unwrap();
    let info = second.info;
    assert_eq!(info.version, 2);
    assert_eq!(info.metrics["pr_auc"], 0.8);
    assert_eq!(info.lineage.parent_version, Some(1));
    assert_eq!(info.registered_at, clock(3).0);
    assert_eq!(info.lineage.trained_at, clock(0).0);
    assert!(info.lineage.data_fingerprint.starts_with("rows64:"));
    assert_eq!(
        info.lineage.training.rows.test,
        info.lineage.training.rows.test
    );
    assert_eq!(reg.versions("churn").unwrap().len(), 2);
    assert_eq!(reg.models().unwrap(), ["churn"]);
}

#[test]
fn unknown_models_versions_and_aliases_are_not_found() {
    let (dir, reg) = registry();
    register(&reg, dir.path(), 0.7, 0);
    for r in ["other@production", "churn/7", "churn@production"] {
        let err = reg.resolve(&r.parse().unwrap()).unwrap_err();
        assert!(err.is_not_found(), "{r}: {err}");
    }
    let err = reg.resolve(&"churn/7".parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("versions: 1"), "{err}");
}

#[test]
fn changing_an_unknown_model_is_not_found_and_creates_nothing() {
    let (dir, reg) = registry();
    let policy = PromotePolicy::default();
    let errors = [
        reg.promote("churn", &policy, None, &clock(0)).unwrap_err(),
        reg.rollback("churn", "production", None, &clock(0))
            .unwrap_err(),
        reg.set_alias("churn", "staging", 1, "test", &clock(0))
            .unwrap_err(),
    ];
    for err in errors {
        assert!(err.is_not_found(), "{err}");
    }
    // No registry folder, no lock file: a command run in the wrong folder leaves no trace.
    assert!(!dir.path().join("registry").exists());
}
