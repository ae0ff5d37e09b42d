-- Sampled frames: the 1/sample_fps grid (is_sample) and each segment's first frame (is_anchor).
-- uri is relative to $CODECVDC_HOME; identical frames share one JPEG (content hash).
-- Per-video files, then compacted rows whose source file is not on disk (storage/compaction.py).
SELECT * FROM read_parquet({glob:frames}, union_by_name = true)
UNION ALL BY NAME
SELECT * EXCLUDE (_file) FROM read_parquet({compacted:frames}, union_by_name = true)
WHERE _file NOT IN (SELECT regexp_extract(file, '[^/]+/[^/]+$') FROM glob({glob:frames}))
