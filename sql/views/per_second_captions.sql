-- per_second_captions (see README, VidCapQA).
SELECT * FROM read_parquet({glob:per_second_captions}, union_by_name = true)
