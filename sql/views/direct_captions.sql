-- direct_captions (see README, VidCapQA).
SELECT * FROM read_parquet({glob:direct_captions}, union_by_name = true)
