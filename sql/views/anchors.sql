-- Keyframe anchor captions: one per segment, from its first frame.
SELECT * FROM read_parquet({glob:anchors}, union_by_name = true)
