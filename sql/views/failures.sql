-- What is failing now: one row per video and asset, removed when the asset next succeeds.
SELECT * FROM read_parquet({glob:failures}, union_by_name = true)
