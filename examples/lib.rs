//! Runnable examples of each churn stage live beside this file; see `cargo run --example`.
