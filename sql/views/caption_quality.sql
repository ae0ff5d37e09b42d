-- Caption quality flags (README "Caption quality gates"): one row per flag of a caption the pipeline kept
-- after its re-asks; `row` names the caption in its asset's table ("segment_idx=0 pair_idx=3").
SELECT * FROM read_parquet({glob:caption_quality}, union_by_name = true)
UNION ALL BY NAME
SELECT * EXCLUDE (_file) FROM read_parquet({compacted:caption_quality}, union_by_name = true)
WHERE _file NOT IN (SELECT regexp_extract(file, '[^/]+/[^/]+$') FROM glob({glob:caption_quality}))
