"""Reads churn's Parquet outputs with pyarrow and checks row counts and column names."""
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq

root = Path(sys.argv[1])
expected_users = int(sys.argv[2])
days = int(sys.argv[3])

users = pq.read_table(root / "data/raw/users.parquet")
events = pq.read_table(root / "data/raw/events.parquet")
daily = pq.read_table(root / "data/processed/user_daily.parquet")

assert users.num_rows == expected_users, users.num_rows
assert users.column_names == ["user_id", "signup_date", "plan", "is_paid", "country", "marketing_source", "engagement_score"], users.column_names
assert events.column_names[:4] == ["event_id", "user_id", "event_time", "event_type"], events.column_names
assert events.num_rows > expected_users, events.num_rows
want = ["user_id", "as_of_date", "signup_date", "days_since_signup", "plan", "is_paid", "country",
        "marketing_source", "is_active_day", "total_events", "logins_count", "enroll_count",
        "watch_minutes_sum", "quiz_attempts_count", "quiz_avg_score", "payment_success_count",
        "payment_failed_count", "support_ticket_count"]
assert daily.column_names == want, daily.column_names
# Every simulated user signs up before the start, so the grid is users x days.
assert daily.num_rows == expected_users * days, daily.num_rows
assert sum(daily.column("total_events").to_pylist()) == events.num_rows
features = pq.read_table(root / "data/features/user_features_daily.parquet")
assert features.num_rows == daily.num_rows, features.num_rows
assert features.column_names[: len(want)] == want
for name in ["days_since_last_activity", "active_days_7d", "logins_30d", "quiz_avg_score_14d", "payment_fail_rate_30d"]:
    assert name in features.column_names, name
train = pq.read_table(root / "data/features/training_dataset.parquet")
summary = json.loads((root / "data/features/training_dataset.json").read_text())
assert train.num_rows == summary["rows"] > 0, (train.num_rows, summary)
assert train.column_names[-2:] == ["future_active_days", "churn_label"]
labels = train.column("churn_label").to_pylist()
assert set(labels) <= {0, 1}
assert abs(sum(labels) / len(labels) - summary["churn_rate"]) < 1e-9
latest = json.loads((root / "data/predictions/latest.json").read_text())
pred = pq.read_table(root / latest["predictions"])  # absolute, or relative to the root
assert pred.column_names[:13] == ["user_id", "as_of_date", "plan", "is_paid", "country", "marketing_source",
                                  "days_since_signup", "days_since_last_activity", "churn_risk", "risk_rank",
                                  "model_name", "model_version", "scored_at"], pred.column_names
assert pred.column_names[-3:] == ["reason_1", "reason_2", "reason_3"]
ranks = pred.column("risk_rank").to_pylist()
assert ranks == list(range(1, pred.num_rows + 1))
risk = pred.column("churn_risk").to_pylist()
assert all(a >= b for a, b in zip(risk, risk[1:]))
assert len(set(pred.column("user_id").to_pylist())) == pred.num_rows
report = json.loads((root / "artifacts/metrics/validation_report.json").read_text())
assert report["ok"] is True
print(f"interop: pyarrow read users={users.num_rows} events={events.num_rows} user_daily={daily.num_rows} "
      f"features={features.num_rows} training={train.num_rows} predictions={pred.num_rows}: ok")
