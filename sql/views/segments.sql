-- Scene-aligned segments: one row per segment, with the boundary source and the confirming I-frame.
-- Per-video files, then compacted rows whose source file is not on disk (storage/compaction.py).
SELECT * FROM read_parquet({glob:segments}, union_by_name = true)
UNION ALL BY NAME
SELECT * EXCLUDE (_file) FROM read_parquet({compacted:segments}, union_by_name = true)
WHERE _file NOT IN (SELECT regexp_extract(file, '[^/]+/[^/]+$') FROM glob({glob:segments}))
