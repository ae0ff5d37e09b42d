-- Candidate events with their support, the rule that judged them, accepted or not, and why.
SELECT * FROM read_parquet({glob:evidence}, union_by_name = true)
