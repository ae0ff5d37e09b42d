-- One row per probed video: stream facts, GOP statistics and the segmentation mode.
SELECT * FROM read_parquet({glob:videos}, union_by_name = true)
