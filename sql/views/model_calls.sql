-- Every model call: one row per attempt against a backend or per cache hit (cache_hit = true).
-- status: ok | truncated (cut at max_tokens) | invalid (failed the JSON schema) | error (transport).
-- Per-video files, then compacted rows whose source file is not on disk (storage/compaction.py).
SELECT * FROM read_parquet({glob:model_calls}, union_by_name = true)
UNION ALL BY NAME
SELECT * EXCLUDE (_file) FROM read_parquet({compacted:model_calls}, union_by_name = true)
WHERE _file NOT IN (SELECT regexp_extract(file, '[^/]+/[^/]+$') FROM glob({glob:model_calls}))
