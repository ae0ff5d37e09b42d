-- per_second_captions (see README, VidCapQA).
-- Per-video files, then compacted rows whose source file is not on disk (storage/compaction.py).
SELECT * FROM read_parquet({glob:per_second_captions}, union_by_name = true)
UNION ALL BY NAME
SELECT * EXCLUDE (_file) FROM read_parquet({compacted:per_second_captions}, union_by_name = true)
WHERE _file NOT IN (SELECT regexp_extract(file, '[^/]+/[^/]+$') FROM glob({glob:per_second_captions}))
