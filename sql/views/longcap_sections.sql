-- longcap_sections: the levels of the LongCaption-Agent merge between clips and the video (DESIGN section 16).
-- Per-video files, then compacted rows whose source file is not on disk (storage/compaction.py).
SELECT * FROM read_parquet({glob:longcap_sections}, union_by_name = true)
UNION ALL BY NAME
SELECT * EXCLUDE (_file) FROM read_parquet({compacted:longcap_sections}, union_by_name = true)
WHERE _file NOT IN (SELECT regexp_extract(file, '[^/]+/[^/]+$') FROM glob({glob:longcap_sections}))
