-- Chapter narratives: the levels between scene narratives and the video narrative (DESIGN section 16).
-- Per-video files, then compacted rows whose source file is not on disk (storage/compaction.py).
SELECT * FROM read_parquet({glob:chapter_narratives}, union_by_name = true)
UNION ALL BY NAME
SELECT * EXCLUDE (_file) FROM read_parquet({compacted:chapter_narratives}, union_by_name = true)
WHERE _file NOT IN (SELECT regexp_extract(file, '[^/]+/[^/]+$') FROM glob({glob:chapter_narratives}))
