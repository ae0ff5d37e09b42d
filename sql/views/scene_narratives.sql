-- Scene narratives: anchor + accepted evidence, one paragraph per segment.
SELECT * FROM read_parquet({glob:scene_narratives}, union_by_name = true)
