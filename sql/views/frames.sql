-- Sampled frames: the 1/sample_fps grid (is_sample) and each segment's first frame (is_anchor).
-- uri is relative to $CODECVDC_HOME; identical frames share one JPEG (content hash).
SELECT * FROM read_parquet({glob:frames}, union_by_name = true)
