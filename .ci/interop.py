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
report = json.loads((root / "artifacts/metrics/validation_report.json").read_text())
assert report["ok"] is True
print(f"interop: pyarrow read users={users.num_rows} events={events.num_rows} user_daily={daily.num_rows}: ok")
