//! The Prometheus text is well formed and says what the reports say.

use churn_monitor::prometheus::{Gauges, parse};

#[test]
fn written_text_parses_back_with_escaped_labels() {
    let mut g = Gauges::default();
    g.set(
        "churn_feature_psi",
        "PSI.",
        &[("feature", "logins_7d")],
        0.25,
    );
    g.set(
        "churn_feature_psi",
        "PSI.",
        &[("feature", "we\"ird\\na\nme")],
        1e-7,
    );
    g.set("churn_drift_status", "Status.", &[], 2.0);
    let text = g.render();
    let samples = parse(&text).unwrap();
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[1].labels["feature"], "we\"ird\\na\nme");
    assert_eq!(samples[2].value, 2.0);
    assert_eq!(text.matches("# TYPE churn_feature_psi gauge").count(), 1);
}

#[test]
fn malformed_text_is_refused() {
    for bad in [
        "churn_x 1\n",                                  // no TYPE
        "# TYPE churn_x gauge\nchurn_x{a=\"1} 2\n",     // unterminated
        "# TYPE churn_x gauge\nchurn_x one\n",          // value
        "# TYPE churn_x gauge\n# TYPE churn_x gauge\n", // twice
        "# TYPE 1x gauge\n",                            // name
        "# TYPE churn_x gauge\nchurn_x{a=1} 2\n",       // unquoted
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}
