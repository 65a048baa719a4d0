//! Writers in parallel lose no update (the lock serialises them).

use churn_registry::{Action, PromotePolicy, Registry};

use crate::common::{artifact, clock, registry};

#[test]
fn parallel_registrations_and_promotions_lose_no_update() {
    let (_dir, reg) = registry();
    let per_thread = 6;
    std::thread::scope(|s| {
        for t in 0..4 {
            let reg: Registry = reg.clone();
            s.spawn(move || {
                for i in 0..per_thread {
                    let a = artifact(0.5 + 0.01 * f64::from(t * per_thread + i), 0.2);
                    reg.register_artifact("churn", &a, &clock(0)).unwrap();
                    reg.promote("churn", &PromotePolicy::default(), None, &clock(1))
                        .unwrap();
                }
            });
        }
    });
    let versions: Vec<u32> = reg
        .versions("churn")
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, (1..=24).collect::<Vec<_>>());
    let history = reg.history("churn").unwrap();
    assert_eq!(
        history
            .iter()
            .filter(|e| e.action == Action::Register)
            .count(),
        24
    );
    assert_eq!(
        history
            .iter()
            .filter(|e| matches!(e.action, Action::Promote | Action::Keep))
            .count(),
        24
    );
    // The best model (pr_auc 0.73) is production whatever the interleaving.
    let prod = reg.aliases("churn").unwrap()["production"];
    assert_eq!(reg.version("churn", prod).unwrap().metrics["pr_auc"], 0.73);
}
