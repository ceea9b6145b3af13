"""The benchmark harness: data sets x strategies x budgets x seeds, stored in SQLite."""
